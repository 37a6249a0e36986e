"""The benchmark's own run (bench/paper_tables.py): the `laf demo` command it makes, and that a demo
run of other data is refused rather than benchmarked as the one asked for."""
import argparse
import dataclasses
import json

import pytest

from bench import paper_tables
from laf.commands import demo as demo_command
from laf.commands.demo_data import shape
from laf.demo import settings
from laf.errors import UserError
from bench_helpers import last_json, mlmd_store


def _demo_run(tmp_path, config: settings.DemoConfig):
    """A demo output folder as `laf demo` leaves it: the data's record and the metadata store's file."""
    data = tmp_path / "bench" / "data"
    data.mkdir(parents=True)
    (data / "demo_data.json").write_text(
        json.dumps({"version": settings.VERSION, "config": settings.config_record(config), "videos": {},
                    "images": {}}))
    (tmp_path / "bench" / "pipeline").mkdir()
    (tmp_path / "bench" / "pipeline" / "metadata.sqlite").write_bytes(b"")
    return str(tmp_path / "bench")


def test_demo_command_is_what_laf_demo_parses():
    """The same data: seed, looks, action and video lengths (``--action-seconds``, ``--video-seconds``),
    the siblings' scenes (``--sibling-scene-shift``, which the command dropped: a shared-scene run passed for it),
    the taxonomy's shape and the web images' mix."""
    wanted = settings.DemoConfig(seed=3, looks=1, min_action=8.0, max_action=20.0, min_duration=60, max_duration=150,
                                 sibling_scene_shift=30.0, activities=3, actions_per_activity=5, video_like_rate=0.3,
                                 off_domain_rate=0.35, irrelevant_rate=0.35)
    command = paper_tables.demo_command("out", 4.0, wanted)
    assert command[1:4] == ["-m", "laf.cli", "demo"]
    parser = argparse.ArgumentParser()
    demo_command.add_arguments(parser)
    args = parser.parse_args(command[4:])
    assert (args.output, args.scale, args.seed, args.looks) == ("out", 4.0, 3, 1)
    assert settings.DemoConfig(seed=args.seed, looks=args.looks, **shape(args)) == wanted
    assert shape(parser.parse_args([])) == {}  # no flags: the demo's lengths and scenes


def test_a_demo_run_of_the_asked_data_is_reused(tmp_path):
    output = _demo_run(tmp_path, settings.DemoConfig(seed=3, looks=1).scaled(4.0))
    assert paper_tables.ensure_run(None, output, 4.0, settings.DemoConfig(seed=3, looks=1).scaled(4.0)) == f"{output}/pipeline"


def test_a_demo_run_made_before_the_scene_shift_existed_is_the_shift_0_run(tmp_path):
    """Its data record lacks the field: it was refused as other data, with flags that could not match it."""
    config = settings.DemoConfig(seed=3, looks=1).scaled(4.0)
    output = _demo_run(tmp_path, config)
    record = json.loads((tmp_path / "bench" / "data" / "demo_data.json").read_text())
    del record["config"]["sibling_scene_shift"]
    (tmp_path / "bench" / "data" / "demo_data.json").write_text(json.dumps(record))
    assert paper_tables.ensure_run(None, output, 4.0, config) == f"{output}/pipeline"
    with pytest.raises(UserError, match=r"sibling_scene_shift 0.0 \(asked 30.0\)"):
        paper_tables.ensure_run(None, output, 4.0, dataclasses.replace(config, sibling_scene_shift=30.0))


def test_bad_action_lengths_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exited:
        paper_tables.main(["--action-seconds", "9", "3", "--demo-output", "never-made"])
    assert exited.value.code == 2 and "need 0 < min_action <= max_action" in capsys.readouterr().err


@pytest.mark.parametrize("scale,seed,looks,named", [(4.0, 3, 2, "looks 1 (asked 2)"),
                                                    (4.0, 0, 1, "seed 3 (asked 0)"),
                                                    (3.0, 3, 1, "videos_per_action 16 (asked 12)")])
def test_a_demo_run_of_other_data_is_refused(tmp_path, scale, seed, looks, named):
    output = _demo_run(tmp_path, settings.DemoConfig(seed=3, looks=1).scaled(4.0))
    with pytest.raises(UserError, match="other data") as refused:
        paper_tables.ensure_run(None, output, scale, settings.DemoConfig(seed=seed, looks=looks).scaled(scale))
    assert named in str(refused.value)


def test_a_pipeline_root_without_a_run_is_a_user_error_exit_2_and_a_json_line(tmp_path, capsys):
    assert paper_tables.main(["--pipeline-root", str(tmp_path)]) == 2
    assert last_json(capsys.readouterr().out) == {"bench": "paper_tables", "error": f"no finished run at {tmp_path}: {tmp_path}/metadata.sqlite not found"}


def test_a_plot_other_than_png_is_a_usage_error(tmp_path, capsys):
    """An SVG or PDF carries the day's date: the bench's outputs would differ on every rerun."""
    with pytest.raises(SystemExit) as exited:
        paper_tables.main(["--plot", str(tmp_path / "profiles.svg"), "--demo-output", "never-made"])
    assert exited.value.code == 2 and "--plot: a .png file" in capsys.readouterr().err


@pytest.mark.parametrize("flag, name", [("--plot", "p.png"), ("--markdown", "t.md")])
def test_an_output_in_a_missing_folder_is_a_usage_error_before_the_training(tmp_path, capsys, flag, name):
    """Both are written after every method's training (~40 min): a missing folder lost the whole run."""
    with pytest.raises(SystemExit) as exited:
        paper_tables.main([flag, str(tmp_path / "no" / name), "--pipeline-root", str(tmp_path)])
    assert exited.value.code == 2 and f"{flag}: no folder {tmp_path / 'no'}" in capsys.readouterr().err


def test_the_ordering_is_undefined_without_scores_not_broken():
    """A run without test segments scores mAP NaN: no ordering holds or fails on it."""
    def result(value):
        return {"mAP@0.5": {"mean": value, "std": 0.0}}

    note = paper_tables.ordering_note({"lstm_uniform": result(float("nan")), "lstm_laf": result(0.5),
                                       "oracle": result(0.7)})
    assert "lstm_uniform nan < lstm_laf 0.500: undefined (no score)" in note
    assert "lstm_laf 0.500 <= oracle 0.700: holds" in note
    assert "does NOT hold" in paper_tables.ordering_note({"lstm_laf": result(0.8), "oracle": result(0.7)})


def test_bad_demo_run_settings_are_usage_errors(capsys):
    with pytest.raises(SystemExit) as exited:
        paper_tables.main(["--looks", "-1", "--demo-output", "never-made"])
    assert exited.value.code == 2 and "looks must be >= 0" in capsys.readouterr().err


def test_a_run_that_never_finished_is_a_one_line_error(tmp_path, capsys):
    mlmd_store(str(tmp_path / "metadata.sqlite"))  # a metadata store no component finished in
    assert paper_tables.main(["--pipeline-root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("paper_tables: error:") and "the run's metadata holds no finished DomainTransfer's scored examples" in err
    assert last_json(captured.out)["bench"] == "paper_tables"
