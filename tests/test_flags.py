"""laf.commands.flags: NaN and infinite flag values are usage errors at parsing, in every subcommand; `laf run`
 and `laf compile` refuse an empty --config and a demo folder beside a config."""
import argparse
import os

import pytest

from laf.cli import main
from laf.commands.flags import finite


def test_finite_takes_numbers_and_refuses_the_rest():
    assert finite("2.5") == 2.5 and finite("-1") == -1.0
    for text, message in (("nan", "must be a finite number"), ("-inf", "must be a finite number"),
                          ("Infinity", "must be a finite number"), ("fast", "not a number")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            finite(text)


@pytest.mark.parametrize("argv, flag", [
    (["extract", "features", "--manifest", "m.csv", "--output", "o", "--rate", "nan"], "--rate"),
    (["extract", "videos", "--manifest", "m.csv", "--output", "o", "--fps", "nan"], "--fps"),
    (["extract", "videos", "--manifest", "m.csv", "--output", "o", "--max-duration", "nan"], "--max-duration"),
    (["extract", "videos", "--manifest", "m.csv", "--output", "o", "--keyframe-window", "inf"], "--keyframe-window"),
    (["demo-data", "--output", "d", "--scale", "nan"], "--scale"),
    (["demo", "--output", "d", "--scale", "inf"], "--scale"),
    (["localize", "--model", "m", "v.mp4", "--on", "nan"], "--on"),
    (["localize", "--model", "m", "v.mp4", "--min-length=-inf"], "--min-length"),
])
def test_subcommands_refuse_non_finite_values(argv, flag, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and f"argument {flag}: must be a finite number" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["run", "--config", ""], "laf run: error: --config: empty path"),
    (["run", "--output", " "], "laf run: error: --output: empty path"),
    (["run", "--config", "my.yaml", "--output", "o"],
     "laf run: error: --output is the demo's folder; with --config the config's pipeline_root and serving_dir say"),
    (["compile", "--image", "i", "--output", "o.json", "--config", ""], "laf compile: error: --config: empty path"),
    (["compile", "--image", "i", "--output", "o.json", "--config", "my.yaml", "--demo-dir", "d"],
     "laf compile: error: --demo-dir is the demo's folder; with --config"),
])
def test_run_and_compile_refuse_an_empty_config_and_a_demo_folder_beside_a_config(argv, message, capsys, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # had a check been missed, the demo would start here, not in the checkout
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
