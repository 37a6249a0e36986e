"""The whole pipeline as a user runs it: `laf demo` killed mid-run and resumed, the pushed model
served through TF's SavedModel loader (`saved_model_cli`), Kubeflow v2 compile, TensorBoard over the
run, CLI errors, and a second demo run with the same seed that must give the same results.

One session-scoped demo run (small scale) is shared by every test here.
"""
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest

import schemas
import tensorboard_client as tb
from file_tree import file_bytes

BIN = os.path.dirname(sys.executable)
LAF = os.path.join(BIN, "laf")
SCALE = "0.75"


def _laf(*args, timeout=1800, **kwargs):
    return subprocess.run([LAF, *args], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`laf demo` killed right after VideoIngest finished, then run again to the end."""
    out = str(tmp_path_factory.mktemp("demo"))
    first = subprocess.Popen([LAF, "demo", "--output", out, "--scale", SCALE], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen = []
    for line in first.stdout:
        seen.append(line)
        if re.match(r"\[\d+/\d+\] VideoIngest done", line):
            os.killpg(first.pid, signal.SIGKILL)
            break
    first.wait(timeout=60)
    killed_output = "".join(seen)
    assert first.returncode == -signal.SIGKILL, killed_output
    second = _laf("demo", "--output", out, "--scale", SCALE)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    with open(os.path.join(out, "summary.json")) as f:
        summary = json.load(f)
    return {"out": out, "killed": killed_output, "resumed": second, "summary": summary}


def test_resume_after_kill_reuses_completed_components(demo_run):
    assert "VideoIngest done" in demo_run["killed"]
    resumed = demo_run["resumed"].stdout
    assert re.search(r"VideoIngest done \(reused from cache\)", resumed), resumed[-2000:]
    assert re.search(r"Trainer done \(\d+ s\)", resumed)  # the rest really ran
    assert "Traceback" not in demo_run["resumed"].stderr


def test_summary_names_metrics_model_and_outputs(demo_run):
    s = demo_run["summary"]
    for name in ["hit@1", "hit@5", "activity_hit@1", "activity_hit@5"] + [f"mAP@0.{i}" for i in range(1, 6)]:
        assert name in s["metrics"], name
        assert 0.0 <= s["metrics"][name] <= 1.0, (name, s["metrics"][name])
    assert s["blessed"] is True
    version = os.path.relpath(s["pushed_model"], s["serving_dir"])
    assert version.isdigit(), s["pushed_model"]  # TF Serving layout: <base>/<version>/
    assert os.path.exists(os.path.join(s["pushed_model"], "saved_model.pb"))
    with open(os.path.join(s["pushed_model"], "assets", "labels.json")) as f:  # carried from ingestion
        assert len(json.load(f)["labels"]) == 12
    assert os.path.exists(s["report"])
    printed = demo_run["resumed"].stdout
    assert "hit@1" in printed and s["pushed_model"] in printed


def test_learning_diagnostics_reads_the_demo_run(demo_run, capsys):
    """bench/learning_diagnostics.py on a finished run: the issue's keys, from the run's own trainer
    settings (variant laf: the actionness targets' share is reported, not null) and its pushed model."""
    from bench import learning_diagnostics
    from bench_helpers import last_json

    assert learning_diagnostics.main(["--pipeline-root", demo_run["summary"]["pipeline_root"]]) == 0
    printed = capsys.readouterr().out
    found = last_json(printed)
    assert f"model: {demo_run['summary']['pushed_model']}\n" in printed and found["test_videos"] > 0
    assert re.fullmatch(r"Trainer/model/\d+", found["model"]), found["model"]  # not the push's time-named folder
    for key in ("probe_action_acc", "model_action_acc", "laf_auc", "novelty_auc", "laf_weight_share_action",
                "actionness_target_share_action", "actionness_auc", "context_class_collapse"):
        assert 0 <= found[key] <= 1, key
    assert found["probe_action_acc"] > 1 / 12 and found["model_vs_probe"] > 0  # 12 labels: above chance
    assert set(found["hit@1"]) == {"average", "actionness"} and set(found["context_own_label"]) == {"before", "after"}


def test_domain_transfer_rounds_and_tensorboard_logs(demo_run):
    root = demo_run["summary"]["pipeline_root"]
    [rounds_file] = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f == "rounds.json"]
    rounds = json.load(open(rounds_file))
    assert set(rounds) >= {"rounds", "chosen_round", "theta1", "theta2"}
    assert set(rounds["rounds"][0]) >= {"round", "images_kept", "images_kept_per_class", "frames_kept", "val_accuracy"}
    event_dirs = {os.path.relpath(d, root).split(os.sep)[0] for d, _, fs in os.walk(root)
                  if any(f.startswith("events.out.tfevents") for f in fs)}
    assert {"DomainTransfer", "Trainer"} <= event_dirs


def _video_examples(summary, split="test"):
    from laf import tfrecords
    from schemas.records import VideoRecord

    root = summary["pipeline_root"]
    [uri] = [os.path.join(root, "VideoIngest", "examples", d) for d in os.listdir(os.path.join(root, "VideoIngest", "examples"))]
    return [VideoRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(uri, split))]


def _saved_model_cli(*args):
    out = subprocess.run([os.path.join(BIN, "saved_model_cli"), *args], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_pushed_model_serves_every_signature_like_the_library(demo_run, tmp_path):
    from laf.evaluate import evaluation

    model_dir = demo_run["summary"]["pushed_model"]
    shown = _saved_model_cli("show", "--dir", model_dir, "--all")
    for signature in ("serving_default", "frame_features", "localize"):
        assert f"signature_def['{signature}']" in shown
    videos = _video_examples(demo_run["summary"])[:3]
    examples = np.array([v.serialize() for v in videos], dtype=object)
    np.save(tmp_path / "examples.npy", examples, allow_pickle=True)
    outputs = {}
    for signature in ("serving_default", "localize"):
        outdir = tmp_path / signature
        _saved_model_cli("run", "--dir", model_dir, "--tag_set", "serve", "--signature_def", signature,
                         "--inputs", f"examples={tmp_path / 'examples.npy'}", "--outdir", str(outdir))
        outputs[signature] = {f[:-4]: np.load(outdir / f) for f in os.listdir(outdir)}
    longest = max(v.num_frames for v in videos)
    feats = np.zeros((len(videos), longest, videos[0].features.shape[1]), np.float32)
    for i, v in enumerate(videos):
        feats[i, :v.num_frames] = v.features
    np.save(tmp_path / "feats.npy", feats)
    np.save(tmp_path / "lengths.npy", np.array([v.num_frames for v in videos], np.int32))
    _saved_model_cli("run", "--dir", model_dir, "--tag_set", "serve", "--signature_def", "frame_features",
                     "--inputs", f"frame_features={tmp_path / 'feats.npy'};lengths={tmp_path / 'lengths.npy'}",
                     "--outdir", str(tmp_path / "ff"))
    probs = outputs["serving_default"]["probabilities"]
    actionness = outputs["serving_default"]["actionness"]
    np.testing.assert_allclose(np.load(tmp_path / "ff" / "probabilities.npy"), probs, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "ff" / "actionness.npy"), actionness, atol=1e-5)
    from laf.demo.run import demo_config

    ev = demo_config(demo_run["out"]).evaluation
    localize_cfg = evaluation.LocalizeConfig(**ev.localize())
    loc = outputs["localize"]
    for i, v in enumerate(videos):
        n = v.num_frames
        assert outputs["serving_default"]["num_frames"][i] == n
        np.testing.assert_allclose(probs[i, :n].sum(-1), 1.0, atol=1e-4)
        assert np.all(probs[i, n:] == 0)
        assert np.all(actionness[i, n:] == 0) and np.all((actionness[i, :n] > 0) & (actionness[i, :n] < 1))
        seg = evaluation.detect(evaluation.class_evidence(probs[i, :n], actionness[i, :n]), v.timestamps, localize_cfg,
                                v.duration)
        count = int(loc["count"][i])
        limit = min(count, len(seg.start))
        assert count == min(len(seg.start), loc["start"].shape[1])
        np.testing.assert_allclose(loc["start"][i, :limit], seg.start[:limit], atol=1e-4)
        np.testing.assert_allclose(loc["end"][i, :limit], seg.end[:limit], atol=1e-4)
        np.testing.assert_array_equal(loc["label"][i, :limit], seg.label[:limit])
        np.testing.assert_allclose(loc["score"][i, :limit], seg.score[:limit], atol=1e-4)


def test_compile_kubeflow_v2_spec_parses(tmp_path, demo_run):
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    out = tmp_path / "laf.json"
    result = _laf("compile", "--target", "kubeflow", "--image", "example.org/laf:1.0", "--output", str(out),
                  "--demo-dir", demo_run["out"], timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"note: {out} is the PipelineJob JSON that Vertex AI submits") for line in lines)
    assert any(line.startswith("note: the Kubeflow Pipelines 2 backend runs no resolver task") for line in lines)
    # the demo's paths are all local: the launcher refuses a local pipeline_root; the others must be mounted
    assert any(line.startswith("note: Kubeflow Pipelines needs a gs:// pipeline_root") for line in lines)
    notes = [line for line in lines if line.startswith("note: ") and "is the local path" in line]
    assert [n.split()[1] for n in notes] == ["serving_dir", "data.videos", "data.images", "features.weights"]
    assert f"is the local path {demo_run['out']}" in notes[0]
    spec = json.load(open(out))["pipelineSpec"]
    parsed = json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec(), ignore_unknown_fields=False)
    tasks = set(parsed.root.dag.tasks)
    assert {"VideoIngest", "ImageIngest", "DomainTransfer", "Trainer", "Evaluator", "Pusher"} <= tasks
    images = {e.container.image for e in parsed.deployment_spec.fields["executors"].struct_value.fields.values()
              for e in [json_format.ParseDict(json_format.MessageToDict(e.struct_value),
                                              pipeline_spec_pb2.PipelineDeploymentConfig.ExecutorSpec())]
              if e.HasField("container")}
    assert images == {"example.org/laf:1.0"}
    # Components run in the image: the spec names the image's setup.py, never this checkout's path.
    from pipeline.config import IMAGE_SETUP_PY, IMAGE_WORKDIR

    text = out.read_text()
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    setup_files = set(re.findall(r"--setup_file=([^\"\\]+)", text))
    assert setup_files == {IMAGE_SETUP_PY} and checkout not in text, (setup_files, checkout)
    with open(os.path.join(checkout, "Dockerfile")) as f:
        dockerfile = f.read()
    assert re.search(rf"^WORKDIR {re.escape(IMAGE_WORKDIR)}$", dockerfile, re.M), "the image's WORKDIR moved"
    assert re.search(r"^COPY [^\n]*\bsetup\.py\b[^\n]* \./$", dockerfile, re.M), "setup.py is not copied to WORKDIR"


def test_run_with_bad_config_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("domain_transfer: {theta1: 7}\n")
    result = _laf("run", "--config", str(bad), timeout=300)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{bad}: domain_transfer.theta1 must be a number in [0, 1], got 7.0" in result.stderr


# --- same seed, same results (issue 13) -----------------------------------------------------------

def _latest_output(pipeline_root, component, key):
    """The artifact a component's latest finished execution wrote under ``key``."""
    from laf import run_store

    _, outputs = run_store.latest_execution(run_store.open_store(pipeline_root), component)
    [artifact] = outputs[key]
    return artifact.uri


def test_the_report_finds_one_lineage_in_a_real_run(demo_run):
    """The lineage the report follows (``collect.sources``: the Evaluator's inputs, the Trainer's
    examples, the DomainTransfer that made them) holds in a real run: the execution types and input
    keys it names are the pipeline's."""
    from laf import run_store
    from laf.report import collect

    root = demo_run["summary"]["pipeline_root"]
    found = collect.sources(run_store.open_store(root))
    expected = {"model": (run_store.TRAINER, "model"), "examples": (run_store.VIDEO_INGEST, "examples"),
                "rounds": (run_store.DOMAIN_TRANSFER, "rounds"), "images": (run_store.IMAGE_INGEST, "examples"),
                "evaluation": (run_store.EVALUATOR, "evaluation")}
    assert {k: getattr(found, k).uri for k in expected} == {k: _latest_output(root, *v) for k, v in expected.items()}


def test_the_report_s_timelines_hold_no_view_of_a_video_s_outputs(demo_run):
    """Each timeline kept its label's column as a view of the video's whole [T, N] evidence: every
    shown video's evidence for every class stayed in memory."""
    from laf import run_store
    from laf.evaluate import evaluation as ev
    from laf.report import collect
    from laf.report.page import ReportData
    from laf.serve.localize import model_vocabulary

    found = collect.sources(run_store.open_store(demo_run["summary"]["pipeline_root"]))
    data = ReportData(metrics={})
    labels = model_vocabulary(run_store.serving_dir(found.model.uri)).labels
    collect._localization(data, found.model.uri, found.examples.uri, labels, ev.LocalizeConfig(), 4)
    assert len(data.timelines) == 4 and data.class_ap
    assert all(t.true_probability.base is None and t.timestamps.base is None for t in data.timelines)


def _artifact_contents(run, component, key):
    """{relative path: contents} of an output artifact: the list of records of a TFRecord file, the
    bytes of any other file, with the run's output folder written as ``<out>`` (records name their
    source files by path). TensorBoard event files (wall times; host and pid in their names) are
    left out."""
    from laf import tfrecords

    uri, out = _latest_output(run["summary"]["pipeline_root"], component, key), os.path.abspath(run["out"])

    def local(data):
        # same-length stand-in (see demo_again), so record framing and proto lengths are unchanged
        return data.replace(out.encode(), b"<" + b"o" * (len(out) - 2) + b">")

    contents = {}
    for folder, _, names in os.walk(uri):
        for name in names:
            path = os.path.join(folder, name)
            if name.startswith("events.out.tfevents") or name in RUN_SPECIFIC:
                continue
            if name.endswith(".gz"):
                contents[os.path.relpath(path, uri)] = [local(r) for r in tfrecords.read(path)]
            else:
                with open(path, "rb") as f:
                    contents[os.path.relpath(path, uri)] = local(f.read())
    assert contents, f"{component} wrote nothing under {key}"
    return contents


@pytest.fixture(scope="session")
def demo_again(demo_run, tmp_path_factory):
    """`laf demo` once more, from scratch, with the same seed and scale, in a folder whose path is as
    long as the first run's (demo0, demo1)."""
    out = str(tmp_path_factory.mktemp("demo"))
    assert len(out) == len(demo_run["out"]), (out, demo_run["out"])
    result = _laf("demo", "--output", out, "--scale", SCALE)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(os.path.join(out, "summary.json")) as f:
        return {"out": out, "summary": json.load(f)}


DETERMINISTIC_OUTPUTS = [
    ("components.video_ingest.component.VideoIngest", "examples"),
    ("components.video_ingest.component.VideoIngest", "vocabulary"),
    ("components.image_ingest.component.ImageIngest", "examples"),
    ("components.domain_transfer.component.DomainTransfer", "scored_examples"),  # LAF score per frame
    ("components.domain_transfer.component.DomainTransfer", "rounds"),  # rounds, floor cases, image filter
    ("tfx.components.evaluator.component.Evaluator", "evaluation"),  # TFMA metrics and plots
]
# eval_config.json names the model by its artifact's path, whose id depends on the run's history (the
# first run was killed and resumed)
RUN_SPECIFIC = {"eval_config.json"}


@pytest.mark.parametrize("component,key", DETERMINISTIC_OUTPUTS,
                         ids=[f"{c.rsplit('.', 1)[-1]}.{k}" for c, k in DETERMINISTIC_OUTPUTS])
def test_same_seed_gives_byte_identical_artifacts(demo_run, demo_again, component, key):
    first = _artifact_contents(demo_run, component, key)
    again = _artifact_contents(demo_again, component, key)
    assert sorted(first) == sorted(again)
    differ = sorted(name for name in first if first[name] != again[name])
    assert not differ, f"{component} {key}: these files differ between two runs with the same seed: {differ}"


@pytest.mark.parametrize("component,key", [("tfx.components.trainer.component.Trainer", "model"),
                                           ("components.domain_transfer.component.DomainTransfer", "laf_model")],
                         ids=["Trainer.model", "DomainTransfer.laf_model"])
def test_same_seed_gives_bit_identical_weights(demo_run, demo_again, component, key):
    """The SavedModel files themselves differ: function names carry process-wide counters (a resumed
    run traced fewer functions before), and Keras' export lists the trainer's variables in an order
    that depends on memory addresses. So the weights are compared by their path in the checkpoint."""
    import tensorflow as tf

    readers = [tf.train.load_checkpoint(os.path.join(_latest_output(run["summary"]["pipeline_root"], component,
                                                                    key), "Format-Serving", "variables",
                                                     "variables"))
               for run in (demo_run, demo_again)]

    def weights(reader):  # every variable by its path; Keras' _all_variables is the address-ordered list
        return sorted(n for n in reader.get_variable_to_shape_map()
                      if n != "_CHECKPOINTABLE_OBJECT_GRAPH" and not n.startswith("_all_variables/"))

    names = weights(readers[0])
    assert len(names) >= 4 and names == weights(readers[1])
    differ = [n for n in names if readers[0].get_tensor(n).tobytes() != readers[1].get_tensor(n).tobytes()]
    assert not differ, differ


def test_same_seed_gives_identical_demo_metrics(demo_run, demo_again):
    first, again = demo_run["summary"]["metrics"], demo_again["summary"]["metrics"]
    assert "mAP@0.5" in first and "hit@1" in first
    assert again == first  # exactly: not within a tolerance


# --- TensorBoard over the demo run ---------------------------------------------------------------

def test_tensorboard_serves_trainer_and_domain_transfer_scalars(demo_run):
    """README: `tensorboard --logdir <pipeline root>` shows the domain-transfer rounds and the
    trainer curves; the environment's TensorBoard serves them over its HTTP API."""
    root = demo_run["summary"]["pipeline_root"]
    [rounds_dir] = {d for d, _, fs in os.walk(root) if "rounds.json" in fs}
    with open(os.path.join(rounds_dir, "rounds.json")) as f:
        rounds = json.load(f)["rounds"]
    dt_run = os.path.relpath(rounds_dir, root)

    def ready(tags):
        return ("domain_transfer/val_accuracy" in tags.get(dt_run, {})
                and any(run.startswith("Trainer") and "epoch_loss" in t for run, t in tags.items()))

    with tb.serving(root) as url:
        tags = tb.scalar_tags(url, ready)
        assert ready(tags), {run: sorted(t) for run, t in tags.items()}
        served = tb.scalars(url, dt_run, "domain_transfer/val_accuracy")
        assert [step for _, step, _ in served] == [r["round"] for r in rounds]
        np.testing.assert_allclose([value for _, _, value in served], [r["val_accuracy"] for r in rounds],
                                   rtol=1e-6)
        trainer_runs = sorted(run for run, t in tags.items() if run.startswith("Trainer") and "epoch_loss" in t)
        assert {os.path.basename(run) for run in trainer_runs} == {"train", "validation"}, trainer_runs
        for run in trainer_runs:
            losses = tb.scalars(url, run, "epoch_loss")
            assert [step for _, step, _ in losses] == list(range(len(losses))) and len(losses) >= 1
            assert all(math.isfinite(value) and value > 0 for _, _, value in losses), losses


def test_a_local_run_hands_its_inputs_fingerprints_and_vocabulary_to_the_components():
    """Without a demo run: what ``create_pipeline`` puts on the components for a local run
    (``pipeline.local_runner``) and leaves out of a compiled spec."""
    from pipeline import config
    from pipeline.pipeline import create_pipeline
    from schemas.vocabulary import Vocabulary

    cfg = config.from_dict({"data": {"videos": "videos.csv", "images": "images"}}, check_paths=False)
    vocabulary = Vocabulary.build(["x", "A:y", "B:z"], taxonomy={"x": "B"})  # labels A:y, B:z, x
    local = {c.id: c for c in create_pipeline(cfg, input_fingerprints={"videos": "v-print", "images": "i-print"},
                                               vocabulary=vocabulary, other_than_own=True).components}
    from pipeline import code_version as cv

    code = cv.code_version(entries=cv.INGESTION)  # the code ingestion runs: new code, new cache keys, compiled specs too
    assert code != cv.code_version()
    assert local["VideoIngest"].exec_properties["inputs_fingerprint"] == f"v-print:{code}"
    assert local["ImageIngest"].exec_properties["inputs_fingerprint"] == f"i-print:{code}"
    assert local["DomainTransfer"].exec_properties["code_version"] == cv.code_version()  # any code: it and all after
    assert local["VideoValidationGate"].exec_properties["code_version"] == cv.code_version(entries=cv.GATE)
    compiled = {c.id: c for c in create_pipeline(cfg).components}
    assert compiled["VideoIngest"].exec_properties["inputs_fingerprint"] == f":{code}"
    assert compiled["DomainTransfer"].exec_properties["code_version"] == cv.code_version()
    # the images' vocabulary by its text, not VideoIngest's artifact, which any video change renews: the
    # images were then decoded and embedded again (URLs fetched again) for a video added
    assert Vocabulary.from_json(local["ImageIngest"].exec_properties["vocabulary_json"]).labels == vocabulary.labels
    assert "vocabulary" not in local["ImageIngest"].inputs and "vocabulary" in compiled["ImageIngest"].inputs
    assert compiled["ImageIngest"].exec_properties.get("vocabulary_json") is None
    # the baseline: the latest blessed model other than the run's own (after the Trainer); TFX's own in a compiled spec
    resolvers = (local["latest_blessed_model_resolver"], compiled["latest_blessed_model_resolver"])
    assert [r.exec_properties["resolver_class"].__name__ for r in resolvers] == ["OtherBlessedModelStrategy",
                                                                                "LatestBlessedModelStrategy"]
    assert list(resolvers[0].inputs) == ["model", "model_blessing", "candidate"] and "candidate" not in resolvers[1].inputs

    def activities(evaluator):
        metrics = json.loads(evaluator.exec_properties["eval_config"])["metrics_specs"][0]["metrics"]
        return [json.loads(m["config"]).get("activities") for m in metrics if json.loads(m["config"]).get("activity")]

    assert activities(local["Evaluator"]) == [[0, 1, 1], [0, 1, 1]]  # activity Hit@1 and Hit@5; x's: the taxonomy's
    assert activities(compiled["Evaluator"]) == [None, None]  # learned from the test videos where it runs
    # a Kubeflow spec: no resolver (its backend runs none), no baseline for the Evaluator
    unresolved = {c.id: c for c in create_pipeline(cfg, baseline=False).components}
    assert "latest_blessed_model_resolver" not in unresolved and "baseline_model" not in unresolved["Evaluator"].inputs
    assert "baseline_model" in compiled["Evaluator"].inputs


@pytest.mark.parametrize("name", ["Trainer", "VideoIngest", "latest_blessed_model_resolver"])
def test_a_pipeline_named_as_one_of_its_components_is_a_one_line_error(name):
    from laf.errors import UserError
    from pipeline import config
    from pipeline.pipeline import create_pipeline

    cfg = config.from_dict({"data": {"videos": "videos.csv", "images": "images"}, "pipeline_name": name},
                           check_paths=False)
    with pytest.raises(UserError, match=f"^pipeline_name '{name}' is the id of one of the pipeline's components"):
        create_pipeline(cfg)


def test_annotation_files_and_taxonomy_reach_video_ingest():
    """``data.annotations`` (THUMOS14 folder / ActivityNet JSON) with ``data.video_dir`` instead of a
    manifest, and ``data.taxonomy`` for labels without an ``Activity:`` part."""
    from pipeline import config
    from pipeline.pipeline import create_pipeline

    cfg = config.from_dict({"data": {"annotations": "/d/activitynet.json", "video_dir": "/d/videos",
                                     "subset": "validation", "taxonomy": "/d/taxonomy.json", "images": "/d/images"}},
                           check_paths=False)
    [ingest] = [c for c in create_pipeline(cfg).components if c.id == "VideoIngest"]
    keys = ("manifest", "annotations", "video_dir", "subset", "taxonomy")
    assert {k: ingest.exec_properties[k] for k in keys} == {
        "manifest": "", "annotations": "/d/activitynet.json", "video_dir": "/d/videos", "subset": "validation",
        "taxonomy": "/d/taxonomy.json"}


def test_a_local_run_takes_annotation_files_and_a_taxonomy(tmp_path):
    """What ``laf run`` builds (without running it) from THUMOS14 files with their own class names
    and a taxonomy: the taxonomy reaches VideoIngest, its fingerprint and the Evaluator's activities."""
    from pipeline import config
    from pipeline.local_runner import local_pipeline

    (tmp_path / "thumos").mkdir()
    (tmp_path / "videos").mkdir()
    for label in ("Dunk", "Layup", "Dive"):
        videos = [f"{label}{i}" for i in range(4)]
        (tmp_path / "thumos" / f"{label}_val.txt").write_text("".join(f"{v} 1.0 2.0\n" for v in videos))
        for video in videos:
            (tmp_path / "videos" / f"{video}.mp4").write_bytes(b"")
        (tmp_path / "images" / label).mkdir(parents=True)
        (tmp_path / "images" / label / "1.jpg").write_bytes(b"")
    (tmp_path / "taxonomy.json").write_text('{"Basketball": ["Dunk", "Layup"], "Pool": ["Dive"]}')
    raw = {"data": {"annotations": "thumos", "video_dir": "videos", "subset": "val", "taxonomy": "taxonomy.json",
                    "images": "images", "split_ratios": {"train": 0.5, "eval": 0.5, "test": 0.0}},
           "features": {"weights": "none"}, "pipeline_root": "root"}
    (tmp_path / "c.yaml").write_text(json.dumps(raw))
    components = {c.id: c for c in local_pipeline(config.load(str(tmp_path / "c.yaml"))).components}  # Dive Dunk Layup
    ingest = components["VideoIngest"].exec_properties
    assert ingest["taxonomy"] == str(tmp_path / "taxonomy.json") and ingest["inputs_fingerprint"]
    metrics = json.loads(components["Evaluator"].exec_properties["eval_config"])["metrics_specs"][0]["metrics"]
    assert [json.loads(m["config"])["activities"] for m in metrics
            if json.loads(m["config"]).get("activity")] == [[0, 1, 1]] * 2
    schema = components["VideoSchemaGen"].exec_properties["schema_file"]  # a copy named by its content
    assert os.path.dirname(schema) == os.path.join(str(tmp_path), "root", "schemas", schemas.digest(
        schemas.VIDEO_SCHEMA, schemas.IMAGE_SCHEMA)) and open(schema).read() == open(schemas.VIDEO_SCHEMA).read()


def test_a_changed_schema_is_read_from_a_new_path(tmp_path, monkeypatch):
    """TFX caches ImportSchemaGen by the path it reads: a changed contract must come from a new path."""
    from pipeline.local_runner import schema_snapshot

    first = schema_snapshot(str(tmp_path / "root"))
    assert schema_snapshot(str(tmp_path / "root")) == first
    changed = str(tmp_path / "video_schema.pbtxt")
    shutil.copy(schemas.VIDEO_SCHEMA, changed)
    with open(changed, "a") as f:
        f.write('feature { name: "new" type: FLOAT }\n')
    monkeypatch.setattr(schemas, "VIDEO_SCHEMA", changed)
    second = schema_snapshot(str(tmp_path / "root"))
    assert second != first and open(os.path.join(second, "video_schema.pbtxt")).read().endswith('"new" type: FLOAT }\n')
    assert sorted(os.listdir(first)) == sorted(os.listdir(second)) == ["image_schema.pbtxt", "video_schema.pbtxt"]
    import tensorflow as tf

    remote = schema_snapshot("ram://laf-schema-snapshot/root")  # a remote pipeline root (gs://) holds them too
    assert remote.startswith("ram://laf-schema-snapshot/root/schemas/")
    assert tf.io.gfile.GFile(f"{remote}/video_schema.pbtxt").read() == open(changed).read()


def test_a_rerun_restores_a_pushed_model_deleted_since(demo_run, tmp_path):
    """The Pusher is reused from cache whatever its destination still holds; `laf run` puts the push
    back from the Pusher's copy, byte for byte, and says so. An unchanged rerun reuses everything,
    the Evaluator and Pusher too: the baseline is the latest blessed model other than the run's own
    (before, TFX's resolver found the run's own, so the first rerun evaluated the model against
    itself and pushed it again as a new version). Runs last of this file's demo_run tests: it adds
    executions to the store (the serving folder is put back as it was)."""
    versions = sorted(os.listdir(demo_run["summary"]["serving_dir"]))
    first = _laf("run", "--output", demo_run["out"])
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "cannot be this run's baseline" not in first.stdout  # its own model, of the same features and labels
    for component in ("Trainer", "Evaluator", "Pusher"):
        assert re.search(rf"{component} done \(reused from cache\)", first.stdout), first.stdout[-2000:]
    assert sorted(os.listdir(demo_run["summary"]["serving_dir"])) == versions  # no new version of the same model
    [pushed] = re.findall(r"pushed model: +(\S+)", first.stdout)
    original = file_bytes(pushed)
    serving = demo_run["summary"]["serving_dir"]
    kept = shutil.copytree(serving, str(tmp_path / "serving"))  # put back at the end, for any later test
    try:
        _restore_and_refuse(demo_run, pushed, original, tmp_path)
    finally:
        for version in os.listdir(kept):
            if not os.path.exists(os.path.join(serving, version)):
                shutil.copytree(os.path.join(kept, version), os.path.join(serving, version))


def _restore_and_refuse(demo_run, pushed, original, tmp_path):
    from laf.demo import run as demo
    from laf.errors import UserError
    from pipeline import local_runner

    shutil.rmtree(demo_run["summary"]["serving_dir"])
    rerun = _laf("run", "--output", demo_run["out"])
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    assert re.search(r"Pusher done \(reused from cache\)", rerun.stdout), rerun.stdout[-2000:]
    assert f"restored the pushed model {pushed}" in rerun.stdout and f"pushed model:  {pushed}" in rerun.stdout
    assert file_bytes(pushed) == original
    cfg = demo.demo_config(demo_run["out"])
    assert local_runner.restore_pushed(cfg) is None  # in place: nothing to do
    copies = [os.path.join(d, "saved_model.pb") for d, _, names in os.walk(os.path.join(
        demo_run["summary"]["pipeline_root"], "Pusher")) if "saved_model.pb" in names]
    moved = {copy: str(tmp_path / f"{i}.pb") for i, copy in enumerate(copies)}
    for copy, aside in moved.items():
        shutil.move(copy, aside)
    shutil.rmtree(pushed)
    try:
        with pytest.raises(UserError, match="and so was the Pusher's copy .*--no-cache"):
            local_runner.restore_pushed(cfg)
    finally:
        for copy, aside in moved.items():
            shutil.move(aside, copy)
    assert local_runner.restore_pushed(cfg) == pushed and file_bytes(pushed) == original
    _newer_version_of_another_model(demo_run, pushed, original)


def _newer_version_of_another_model(demo_run, pushed, original):
    """Settings changed and changed back: the Evaluator and Pusher of the earlier settings are reused
    from cache, while the other settings' model, pushed since as a higher version, was what TF
    Serving served. The push is repeated above it and recorded (the summary names it)."""
    from laf import run_store
    from laf.demo import run as demo
    from pipeline import local_runner

    cfg = demo.demo_config(demo_run["out"])
    serving, own = os.path.split(pushed)
    other, again = os.path.join(serving, str(int(own) + 5)), os.path.join(serving, str(int(own) + 6))
    shutil.copytree(pushed, other)
    with open(os.path.join(other, "assets", "labels.json"), "a") as f:  # another model
        f.write(" ")
    try:
        assert local_runner.serve_latest_push(cfg) == (other, again)
        assert file_bytes(again) == original and demo.summarize(cfg)["pushed_model"] == again
        assert local_runner.serve_latest_push(cfg) is None  # the newest now: nothing to do
    finally:
        shutil.rmtree(other)
        shutil.rmtree(again, ignore_errors=True)
        store = run_store.open_store(cfg.pipeline_root)
        record = run_store.latest_push(store)
        record.custom_properties["pushed_destination"].string_value = pushed
        record.custom_properties["pushed_version"].string_value = own
        store.put_artifacts([record])
