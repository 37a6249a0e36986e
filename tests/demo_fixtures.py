"""The smallest demo data set that still has every split, sibling actions and noisy images:
shared by the tests that need real media but not the whole demo (seconds to generate)."""
import csv
import json
import os

from laf.demo.settings import DemoConfig

TINY = DemoConfig(activities=2, actions_per_activity=2, videos_per_action=3, images_per_action=9,
                  min_duration=14.0, max_duration=22.0, min_action=2.0, max_action=4.0,
                  max_occurrences=2, ambiguous_rate=0.5, seed=7)


def manifest(root: str) -> list:
    """Rows of a set's manifest, with the video path resolved against its folder and segments parsed."""
    with open(os.path.join(root, "manifest.csv")) as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["video"] = os.path.join(root, r["video"])
        r["segments"] = json.loads(r["segments"])
    return rows
