"""The demo's crawled images and their truth file."""
from __future__ import annotations

import glob
import json
import os

from PIL import Image

from demo_fixtures import TINY
from laf.demo.settings import KINDS, kind_counts


def test_image_truth_matches_files_and_rates(tiny_demo):
    root, info = tiny_demo
    with open(os.path.join(root, info["paths"]["images_truth"])) as f:
        truth = json.load(f)
    on_disk = {os.path.relpath(p, os.path.join(root, "images"))
               for p in glob.glob(os.path.join(root, "images", "*", "*"))}
    assert on_disk == set(truth)
    expected = kind_counts(TINY)
    assert expected == {"video_like": 5, "off_domain": 2, "irrelevant": 2}
    for label in (l for ls in info["activities"].values() for l in ls):
        entries = {k: v for k, v in truth.items() if k.startswith(label + "/")}
        assert {k: sum(v["kind"] == k for v in entries.values()) for k in KINDS} == expected
        for key, entry in entries.items():
            assert entry["label"] == label
            with Image.open(os.path.join(root, "images", key)) as im:
                assert im.format == "JPEG" and min(im.size) >= 120
            if entry["kind"] == "irrelevant":
                assert entry["drawn_label"] != label
            else:
                assert entry["drawn_label"] == label
    assert info["images"] == {k: 4 * n for k, n in expected.items()}
