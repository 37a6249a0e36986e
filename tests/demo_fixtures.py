"""The smallest demo data set that still has every split, sibling actions and noisy images:
shared by the tests that need real media but not the whole demo (seconds to generate)."""
from laf.demo_data import DemoConfig

TINY = DemoConfig(activities=2, actions_per_activity=2, videos_per_action=3, images_per_action=9,
                  min_duration=14.0, max_duration=22.0, min_action=2.0, max_action=4.0,
                  max_occurrences=2, ambiguous_rate=0.5, seed=7)
