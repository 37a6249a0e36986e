"""laf.demo.run's run summary: what `laf run` prints at the end of a run."""
from bench_helpers import partial_run


def test_a_rerun_reusing_an_evaluation_whose_folder_was_deleted_still_summarizes(tmp_path, caplog):
    """TFX's cache checks that the evaluation is published, not that its folder exists: the cached
    rerun worked, so its summary comes without metrics and a warning instead of an error."""
    from laf.demo import run as demo
    from pipeline.config import PipelineConfig

    partial_run(tmp_path)
    with caplog.at_level("WARNING"):
        summary = demo.summarize(PipelineConfig(pipeline_root=str(tmp_path), serving_dir=str(tmp_path / "serving")))
    assert summary["metrics"] == {} and summary["blessed"] is False and summary["pushed_model"] is None
    assert any("no metrics in the summary: the Evaluator's output" in r.getMessage() for r in caplog.records)
    assert demo.NO_METRICS in demo.format_summary(summary).splitlines()  # not an empty table


def test_the_summary_lists_each_metric(tmp_path):
    from laf.demo import run as demo

    summary = {"metrics": {"mAP@0.5": 0.5, "hit@1": 1.0}, "blessed": True, "pushed_model": "m", "pipeline_root": "r",
               "tensorboard": "t"}
    lines = demo.format_summary(summary).splitlines()
    assert lines[3:5] == [f"{'hit@1':<27} 1.0000", f"{'mAP@0.5':<27} 0.5000"] and demo.NO_METRICS not in lines


def test_the_tensorboard_command_is_quoted_for_a_shell(tmp_path):
    """A root with a space: the printed command split at it when pasted."""
    from laf.demo import run as demo
    from pipeline.config import PipelineConfig

    root = tmp_path / "my runs"
    root.mkdir()
    partial_run(root)
    summary = demo.summarize(PipelineConfig(pipeline_root=str(root), serving_dir=str(tmp_path / "serving")))
    assert summary["tensorboard"] == f"tensorboard --logdir '{root}'"


def test_a_metric_without_a_score_is_written_as_null_not_a_bare_nan(tmp_path):
    """No annotated test video gives mAP NaN, written as a bare NaN token that strict JSON parsers refuse."""
    import json

    from laf.demo import run as demo

    path = demo.write_summary(str(tmp_path), {"metrics": {"hit@1": 1.0, "mAP@0.5": float("nan")}, "blessed": True})
    with open(path) as f:
        text = f.read()
    assert "NaN" not in text
    assert json.loads(text, parse_constant=lambda c: 1 / 0) == {"metrics": {"hit@1": 1.0, "mAP@0.5": None},
                                                                "blessed": True}
