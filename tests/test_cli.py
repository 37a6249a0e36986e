"""The `laf` console script as a user runs it."""
import json
import os
import subprocess
import sys

import pytest

from laf import cli
from laf.errors import UserError

LAF = os.path.join(os.path.dirname(sys.executable), "laf")


def test_help_lists_every_registered_subcommand():
    out = subprocess.run([LAF, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for name in cli.COMMANDS:
        assert name in out.stdout
    assert "Traceback" not in out.stderr


def test_unknown_subcommand_is_one_line_error(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["frobnicate"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "Traceback" not in err


def test_every_subcommand_has_help(capsys):
    for name in cli.COMMANDS:
        with pytest.raises(SystemExit) as exited:
            cli.main([name, "--help"])
        assert exited.value.code == 0, name
        assert f"usage: laf {name}" in capsys.readouterr().out


_LOADED = ("import json, sys; from laf import cli; rc = cli.main(sys.argv[1:]); "
           "print(json.dumps([rc, sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'tfx', 'apache_beam'})]))")


def _run_inputs(tmp_path, videos="video,label\nv.mp4,A:x\n", folders=("A__x",), config=None):
    (tmp_path / "videos.csv").write_text(videos)
    for row in videos.splitlines()[1:]:
        (tmp_path / row.split(",")[0]).write_bytes(b"")  # the files exist, so the preflight reaches its other checks
    for name in folders:
        (tmp_path / "images" / name).mkdir(parents=True)
        if name != "B__empty":
            (tmp_path / "images" / name / "a.jpg").write_bytes(b"\xff\xd8")
    path = tmp_path / "c.yaml"
    if isinstance(config, bytes):
        path.write_bytes(config)
    else:
        path.write_text(config or "pipeline_root: out/pipeline\ndata:\n  videos: videos.csv\n  images: images\n")
    return path


@pytest.mark.parametrize("inputs, where, words", [
    (dict(videos="video,label\nv.mp4,A:x\nw.mp4,Serve\n"), "videos.csv:3", "'Serve' must be written 'Activity:Action'"),
    (dict(folders=("A__x", "C__w")), "", "web images but no videos"),
    (dict(folders=("A__x", "B__empty")), "images/B__empty/", "holds no images"),
    (dict(config=b"data:\n  videos: caf\xe9.csv\n"), "c.yaml:2", "not UTF-8 text"),
    (dict(config="data:\n  videos: [videos.csv\n  images: images\n"), "c.yaml:", "not valid YAML"),
    (dict(config="data:\n  videos: videos.csv\n  images: images\ntrainer: {cells: 0}\n"), "c.yaml", "trainer.cells"),
])
def test_run_config_and_manifest_errors_are_one_line_before_tf_loads(tmp_path, inputs, where, words):
    """`laf run` pre-flight: exit 2, one line naming file:line or key, and no TF/TFX/Beam
    import on the way (what made each error take 35-47 s)."""
    config = _run_inputs(tmp_path, **inputs)
    done = subprocess.run([sys.executable, "-c", _LOADED, "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=120, cwd=str(tmp_path))
    rc, loaded = json.loads(done.stdout.splitlines()[-1])
    assert (rc, loaded) == (2, [])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("laf run: error: ") and words in lines[0], done.stderr
    assert f"{tmp_path}/{where}" in lines[0]
    assert not (tmp_path / "out").exists()


def test_a_folder_as_the_config_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, "-c", _LOADED, "run", "--config", str(tmp_path)],
                          capture_output=True, text=True, timeout=120)
    assert json.loads(done.stdout.splitlines()[-1]) == [2, []]
    assert done.stderr.strip() == f"laf run: error: {tmp_path}: is a folder, not a config file"


def test_an_output_path_the_file_system_refuses_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    assert cli.main(["demo-data", "--output", str(blocker / "data")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("laf demo-data: error: ") and "Not a directory" in err[0], err


def test_report_refuses_an_output_it_cannot_write_before_reading_the_run(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    for output in (tmp_path, blocker / "report.html"):  # a folder; a file under a file
        assert cli.main(["report", "--pipeline-root", str(tmp_path / "no_run"), "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert "need an HTML file in a folder that can be written" in err and "metadata.sqlite" not in err
    # a URI was made absolute: the page went to a local folder named `gs:`
    assert cli.main(["report", "--pipeline-root", str(tmp_path / "no_run"), "--output", "gs://b/r.html"]) == 2
    assert "the report is a local HTML file" in capsys.readouterr().err and not os.path.exists("gs:")


@pytest.mark.parametrize("command", [["demo"], ["demo-data"], ["extract", "videos", "--manifest", "m.csv"],
                                     ["extract", "images", "--root", "imgs"], ["compile"],
                                     ["report", "--pipeline-root", "p"]])
def test_an_empty_output_is_a_usage_error_before_any_work(command, capsys):
    """An unset shell variable (``--output "$OUT"``): the demo scattered its folders over the current
    one, and extract wrote its marker to ``/.laf-extract`` after the whole run."""
    with pytest.raises(SystemExit) as e:
        cli.main([*command, "--output", " "])
    assert e.value.code == 2 and "--output: empty path" in capsys.readouterr().err


@pytest.mark.parametrize("command, flag", [
    *[(["localize", "--model", "m", "v.mp4"], flag)
      for flag in ("--json", "--plot", "--labels", "--pipeline-root", "--weights", "--layer")],
    *[(["extract", "images", "--root", "imgs", "--output", "o"], flag)
      for flag in ("--weights", "--layer", "--labels")],
    (["extract", "videos", "--manifest", "m.csv", "--output", "o"], "--taxonomy"),
    (["report", "--pipeline-root", "p"], "--baselines"),
    # an unset $ANN: the manifest branch with no manifest, a TypeError traceback; "": ./metadata.sqlite
    (["extract", "videos", "--output", "o"], "--annotations"), (["extract", "videos", "--output", "o"], "--manifest"),
    (["extract", "videos", "--annotations", "a", "--output", "o"], "--videos"),
    (["extract", "images", "--output", "o"], "--root"), (["extract", "features", "--output", "o"], "--manifest"),
    (["report"], "--pipeline-root"),
])
def test_an_empty_path_flag_is_a_usage_error(command, flag, capsys):
    """Before, an empty value was falsy or taken as given: ``--json ""`` wrote nothing and exited 0,
    ``--weights ""`` extracted with random weights, ``--labels ""`` built a new vocabulary whose label
    indices need not match the videos'."""
    with pytest.raises(SystemExit) as e:
        cli.main([*command, flag, ""])
    assert e.value.code == 2 and f"{flag}: empty path" in capsys.readouterr().err


@pytest.mark.parametrize("command, flag", [
    (["demo"], "--output"), (["demo-data"], "--output"),
    (["localize", "--model", "m", "v.mp4"], "--plot"), (["localize", "--model", "m", "v.mp4"], "--json")])
def test_a_uri_where_files_are_written_locally_is_a_usage_error(command, flag, capsys, tmp_path, monkeypatch):
    """These write with the local file system: ``gs://b/d`` made a folder named ``gs:`` here."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        cli.main([*command, flag, "gs://b/d"])
    assert e.value.code == 2 and f"{flag}: must be a local path, got 'gs://b/d'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_file_uri_where_files_are_written_locally_is_its_path():
    """``file:///d`` joined as it was made a folder named ``file:`` here."""
    from laf.commands.flags import local_path

    assert local_path("file:///tmp/laf-plots") == "/tmp/laf-plots" and local_path("plots") == "plots"


@pytest.mark.parametrize("command, flag", [(["run"], "--output"), (["compile", "--image", "i", "--output", "spec.json"], "--demo-dir")])
def test_a_uri_as_the_demo_folder_is_refused(command, flag, capsys, tmp_path, monkeypatch):
    """The demo's config is resolved against a local folder: ``gs://b/d`` became ``<here>/gs:/b/d``."""
    monkeypatch.chdir(tmp_path)
    assert cli.main([*command, flag, "gs://b/d"]) == 2
    assert f"{flag}: must be a local path, got 'gs://b/d'" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("flags, words", [
    (["v.mp4", "--model-name", "other"], "--model-name names the model in TF Serving: only with --server URL"),
    (["v.mp4", "--model-name", "laf"], "--model-name names the model in TF Serving"),  # its default, still unread
    (["--stream", "tcp://127.0.0.1:9", "--no-reconnect", "--max-reconnects", "5"],
     "--max-reconnects counts reconnects, which --no-reconnect turns off"),
    (["--stream", "tcp://127.0.0.1:9", "--no-reconnect", "--max-reconnects", "0"], "which --no-reconnect turns off")])
def test_localize_flags_that_would_be_ignored_are_refused(flags, words, capsys):
    """Both were read only in another mode, and silently dropped in this one."""
    assert cli.main(["localize", "--model", "m", *flags]) == 2
    assert words in capsys.readouterr().err


def test_a_split_named_twice_in_ratios_is_refused():
    """``train=0.6,eval=0.2,test=0.2,train=0.1``: the last one silently won."""
    from laf.commands.extract import parse_ratios

    assert parse_ratios("train=0.6, eval=0.2,test=0.2") == {"train": 0.6, "eval": 0.2, "test": 0.2}
    with pytest.raises(UserError, match="--ratios names train more than once"):
        parse_ratios("train=0.6,eval=0.2,test=0.2,train=0.1")


def test_an_output_folder_with_glob_characters_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    """TF's and TFX's readers glob the artifact folders: ``runs[1]`` matched nothing, and ingestion
    counted 0 of everything after the data had been generated."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--output", "runs[1]"]) == 2
    assert "--output: runs[1] holds one of [ ] * ? \\" in capsys.readouterr().err
    assert cli.main(["demo", "--output", "runs\\1"]) == 2  # TF's glob reads a backslash as an escape
    assert "--output: runs\\1 holds one of" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_a_file_name_that_is_no_utf8_is_a_one_line_error_as_any_other(tmp_path):
    """The console script's stderr refused to print a Latin-1 file name (a surrogate): a double
    traceback and exit 1 instead of the one-line error and exit 2, under any locale."""
    truth = tmp_path / "gt.json"
    truth.write_text(json.dumps({"database": {"v1": {"subset": "test", "duration": 10.0, "annotations": [
        {"segment": [1.0, 2.0], "label": "A:x"}]}}}))
    missing = os.fsencode(str(tmp_path)) + b"/caf\xe9.json"
    for locale in ("C.UTF-8", "C"):
        done = subprocess.run([LAF, "evaluate", "--ground-truth", str(truth), "--predictions", missing],
                              capture_output=True, timeout=120, env={**os.environ, "LC_ALL": locale})
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr.decode(errors="replace")
        assert lines[0].startswith(b"laf evaluate: error: ") and b"caf" in lines[0]
