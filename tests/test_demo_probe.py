"""The demo's calibrated backbone and what its features show."""
from __future__ import annotations

import os

from laf.demo.probe import calibrated_backbone, probe


def test_calibrated_backbone_shows_the_papers_effect(tiny_demo):
    """Real TF: the calibrated random backbone separates activities, tells sibling actions
    apart on action frames better than on context frames, and video-like images are
    closer to their action's frames than off-domain or irrelevant images are."""
    root, _ = tiny_demo
    path = calibrated_backbone(root)
    assert path.endswith(".weights.h5") and os.path.getsize(path) > 100_000
    written = os.stat(path).st_mtime_ns
    assert calibrated_backbone(root) == path and os.stat(path).st_mtime_ns == written  # cached, not recalibrated
    result = probe(root)
    assert result["feature_dim"] == 96
    assert result["activity_acc_all_frames"] > 0.95
    assert result["sibling_acc_action_frames"] > result["sibling_acc_context_frames"] + 0.25
    images = result["images"]
    assert images["video_like"]["cos_to_action_frames"] > images["off_domain"]["cos_to_action_frames"] + 0.1
    assert images["video_like"]["cos_to_action_frames"] > images["irrelevant"]["cos_to_action_frames"] + 0.1
