"""`laf compile`'s notes on paths the containers cannot see (the whole compile: tests/test_pipeline.py)."""
from laf.commands.compile import local_paths
from pipeline.config import DataConfig, FeaturesConfig, PipelineConfig


def test_file_uris_are_this_machine_s_paths_and_gs_uris_are_not():
    cfg = PipelineConfig(pipeline_root="gs://b/root", serving_dir="file:///srv/models",
                         data=DataConfig(videos="gs://b/videos.csv", images="file:///data/images"),
                         features=FeaturesConfig(weights="/weights/backbone.weights.h5"))
    assert local_paths(cfg) == [("serving_dir", "file:///srv/models"), ("data.images", "file:///data/images"),
                                ("features.weights", "/weights/backbone.weights.h5")]
