"""What the demo data set holds: its settings, their checks and the CLI flags that set them."""
from __future__ import annotations

import subprocess
import sys

import pytest

from laf.demo.settings import KINDS, DemoConfig, kind_counts
from laf.errors import UserError


@pytest.mark.parametrize("n,rates", [(30, (0.5, 0.25, 0.25)), (7, (0.6, 0.3, 0.1)), (40, (1.0, 0.0, 0.0))])
def test_kind_counts_follow_rates(n, rates):
    config = DemoConfig(images_per_action=n, video_like_rate=rates[0], off_domain_rate=rates[1],
                        irrelevant_rate=rates[2])
    counts = kind_counts(config)
    assert sum(counts.values()) == n
    assert all(abs(counts[k] - n * r) < 1 for k, r in zip(KINDS, rates))


def test_bad_config_is_rejected():
    with pytest.raises(UserError, match="sum to 1"):
        DemoConfig(video_like_rate=0.9).validate()
    with pytest.raises(UserError, match="min_duration"):
        DemoConfig(min_duration=5.0).validate()
    with pytest.raises(UserError, match="positive"):
        DemoConfig().scaled(0)
    assert DemoConfig().scaled(2.0).videos_per_action == 8


@pytest.mark.parametrize("flags,message", [(["--scale", "-1"], "scale (--scale) must be positive, got -1"),
                                           (["--looks", "-2"], "looks must be >= 0, got -2"),
                                           (["--seed", "-1"], "seed must be >= 0, got -1"),
                                           (["--action-seconds", "9", "3"],  # the flag and the values: named now
                                            "need 0 < min_action <= max_action (--action-seconds MIN MAX), got 9 3"),
                                           (["--action-seconds", "20", "40"], "need max_action + 6 s <= min_duration"
                                            " <= max_duration (--video-seconds MIN MAX beside --action-seconds), got"
                                            " actions up to 40 s in videos of 40 120 s"),
                                           (["--video-seconds", "40", "inf"], "--video-seconds: must be a finite number"),
                                           (["--image-mix", "0.5", "0.5", "0.5"], "image kind rates (--image-mix"
                                            " VIDEO_LIKE OFF_DOMAIN IRRELEVANT) must be >= 0 and sum to 1, got 0.5 0.5"
                                            " 0.5"),
                                           (["--actions-per-activity", "1"], "need >= 1 activity (--activities) with"
                                            " >= 2 actions (--actions-per-activity: fine-grained siblings), got 4 and 1"),
                                           (["--sibling-scene-shift", "-5"],
                                            "sibling scene shift (--sibling-scene-shift) must be a finite number >= 0")])
def test_cli_reports_bad_setting(tmp_path, flags, message):
    done = subprocess.run([sys.executable, "-m", "laf.cli", "demo-data", *flags,
                           "--output", str(tmp_path / "unused")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / "unused").exists()


def test_infinite_lengths_are_refused_where_no_flag_parsed_them():
    """``bench/paper_tables.py`` builds its DemoConfig from its own flags: the config checks too."""
    with pytest.raises(UserError, match="lengths must be finite seconds"):
        DemoConfig(max_duration=float("inf")).validate()
