"""The Kubeflow Pipelines v2 / Vertex AI container contract, executed (issue 14, item 1).

The spec is compiled as `laf compile --target kubeflow` compiles it. Each custom component
(VideoIngest, ImageIngest, ValidationGate, DomainTransfer), and the standard components between
them, then runs from that spec as the cluster runs it (``kfp_launcher``): the spec's own command
line, ``{{$}}`` = an ExecutorInput whose input artifacts are the upstream tasks' outputs with the
metadata their executors reported, a fresh process whose working directory is not the checkout,
and the image stood in for by a folder built from the Dockerfile's COPY lines. Local folders stand
in for ``gs://``. One chain, run once for the module, on the tiny demo data (~3-4 minutes on 2 cores).
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

import kfp_launcher
from demo_fixtures import TINY
from pipeline.config import PipelineConfig

CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The video branch with its validation (the gate needs ExampleValidator's real anomalies), then
# domain transfer. The image branch's validation is the same executors on the image schema.
CHAIN = ("VideoIngest", "VideoSchemaGen", "ImageIngest", "VideoStatisticsGen", "VideoExampleValidator",
         "VideoValidationGate", "DomainTransfer")
CUSTOM = {"VideoIngest": "video_ingest", "ImageIngest": "image_ingest", "VideoValidationGate": "validation_gate",
          "DomainTransfer": "domain_transfer"}


def _tiny_config(data: str, out: str) -> PipelineConfig:
    """The demo config on the tiny data, small enough for a test."""
    from laf.demo.run import demo_config

    cfg = demo_config(out)
    cfg.pipeline_root = os.path.join(out, "root")  # the spec's gcsOutputDirectory
    cfg.data.videos, cfg.data.images = os.path.join(data, "manifest.csv"), os.path.join(data, "images")
    cfg.features = dataclasses.replace(cfg.features, weights="none", fps=1.0, input_size=96)
    cfg.domain_transfer = dataclasses.replace(cfg.domain_transfer, epochs=3, max_rounds=1, svm_epochs=2)
    return cfg


@pytest.fixture(scope="module")
def contract(tmp_path_factory):
    from laf.demo.dataset import generate
    from pipeline.kubeflow_v2_runner import compile_pipeline

    data = str(tmp_path_factory.mktemp("tiny_demo"))
    generate(data, TINY)
    out = str(tmp_path_factory.mktemp("contract"))
    spec_path = compile_pipeline(_tiny_config(data, out), "kubeflow", "example.org/laf:1",
                                 os.path.join(out, "spec.json"))
    with open(spec_path) as f:
        spec = json.load(f)
    image = kfp_launcher.build_image(os.path.join(CHECKOUT, "Dockerfile"), CHECKOUT, os.path.join(out, "image"))
    foreign = os.path.join(out, "elsewhere")
    os.makedirs(foreign)
    launcher = kfp_launcher.Launcher(spec, image, spec["runtimeConfig"]["gcsOutputDirectory"], foreign)
    launcher.run_all(CHAIN)
    return {"spec": spec, "text": open(spec_path).read(), "image": image, "launcher": launcher}


def _uri(contract, task: str, key: str) -> str:
    return contract["launcher"].outputs[task][key]["uri"]


def _metadata(contract, task: str, key: str) -> dict:
    return contract["launcher"].outputs[task][key]["metadata"]


def test_each_custom_component_ran_its_spec_command_outside_the_checkout(contract):
    launcher = contract["launcher"]
    assert not os.path.realpath(launcher.workdir).startswith(CHECKOUT + os.sep)
    executors = contract["spec"]["pipelineSpec"]["deploymentSpec"]["executors"]
    for task, package in CUSTOM.items():
        command = launcher.commands[task]
        assert command[:3] == ["python", "-m", "tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor"]
        assert command[command.index("--executor_class_path") + 1] == f"components.{package}.executor.Executor"
        spec_args = executors[f"{task}_executor"]["container"]["args"]
        assert len(command) == 3 + len(spec_args) and "{{$}}" in spec_args
        sent = json.loads(command[command.index("--json_serialized_invocation_args") + 1])
        assert sent["outputs"]["outputFile"].endswith("/executor_output.json")
        assert all(CHECKOUT not in arg for arg in command), task
        # The executor's code came from the image's copy (Python cached its bytecode there), not the checkout.
        cached = contract["image"].host(f"{contract['image'].workdir}/components/{package}/__pycache__")
        assert any(f.startswith("executor.") for f in os.listdir(cached)), task


def test_executor_outputs_name_the_artifacts_the_launcher_gave(contract):
    launcher = contract["launcher"]
    for task in CUSTOM:
        given = launcher.inputs[task]["outputs"]
        with open(given["outputFile"]) as f:
            reported = json.load(f)
        assert set(reported.get("artifacts", {})) == set(given["artifacts"]), task
        for key, listed in given["artifacts"].items():
            [artifact] = reported["artifacts"][key]["artifacts"]
            assert artifact["uri"] == listed["artifacts"][0]["uri"]
            assert artifact["metadata"]["tfx_version"] == "1.16.0"


def test_video_ingest_wrote_every_split_and_the_vocabulary(contract):
    from laf import tfrecords
    from schemas.records import VideoRecord

    meta = _metadata(contract, "VideoIngest", "examples")
    assert json.loads(meta["split_names"]) == ["train", "eval", "test"]
    assert meta["payload_format"] == "FORMAT_TF_SEQUENCE_EXAMPLE"
    assert meta["accepted"] == 12 and meta["inputs"] == meta["accepted"] + meta["rejected"] + meta["duplicates"]
    uri = _uri(contract, "VideoIngest", "examples")
    videos = {s: [VideoRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(uri, s))]
              for s in ("train", "eval", "test")}
    assert {s: len(v) for s, v in videos.items()} == {"train": 4, "eval": 4, "test": 4}
    assert all(v.num_frames >= 14 and v.features.shape[1] > 0 for vs in videos.values() for v in vs)
    with open(os.path.join(_uri(contract, "VideoIngest", "vocabulary"), "labels.json")) as f:
        labels = json.load(f)["labels"]
    assert len(labels) == 4 and {v.label for vs in videos.values() for v in vs} == set(labels)


def test_image_ingest_used_the_video_vocabulary(contract):
    from laf import tfrecords
    from schemas.records import ImageRecord

    meta = _metadata(contract, "ImageIngest", "examples")
    assert json.loads(meta["split_names"]) == ["train"] and meta["payload_format"] == "FORMAT_TF_EXAMPLE"
    uri = _uri(contract, "ImageIngest", "examples")
    images = [ImageRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(uri, "train"))]
    assert len(images) == meta["accepted"] == 36
    with open(os.path.join(_uri(contract, "VideoIngest", "vocabulary"), "labels.json")) as f:
        labels = json.load(f)["labels"]
    assert all(labels[i.label_index] == i.label for i in images)


def test_validation_gate_passed_on_the_validators_anomalies(contract):
    anomalies = _metadata(contract, "VideoExampleValidator", "anomalies")
    assert anomalies["blessed"] == {"train": 1.0, "eval": 1.0, "test": 1.0}  # the data meets schemas/video_schema
    sent = contract["launcher"].inputs["VideoValidationGate"]["inputs"]
    assert sent["artifacts"]["anomalies"]["artifacts"][0]["metadata"] == anomalies
    from pipeline import code_version as cv

    assert sent["parameterValues"] == {"dataset_name": "Video", "code_version": cv.code_version(entries=cv.GATE)}


def test_domain_transfer_scored_every_split(contract):
    from laf import tfrecords
    from schemas.records import VideoRecord

    with open(os.path.join(_uri(contract, "DomainTransfer", "rounds"), "rounds.json")) as f:
        rounds = json.load(f)
    assert len(rounds["rounds"]) == 1 and rounds["theta2"] == 0.5
    assert _metadata(contract, "DomainTransfer", "rounds")["chosen_round"] == rounds["chosen_round"]
    scored = _uri(contract, "DomainTransfer", "scored_examples")
    splits = json.loads(_metadata(contract, "DomainTransfer", "scored_examples")["split_names"])
    assert splits == ["train", "eval", "test"]
    for split in ("train", "eval", "test"):
        videos = [VideoRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(scored, split))]
        assert len(videos) == 4 and all(v.laf_scores.shape == (v.num_frames,) for v in videos)
    model = _uri(contract, "DomainTransfer", "laf_model")
    assert os.path.exists(os.path.join(model, "Format-Serving", "saved_model.pb"))


def test_spec_paths_are_the_images_and_its_setup_file_stages(contract, tmp_path):
    """Every project path the spec names is under the image's WORKDIR and exists in the image built
    from the Dockerfile; Beam's stager (what Dataflow runs with ``--setup_file``) builds this
    package's sdist from it, from another working directory."""
    image = contract["image"]
    assert CHECKOUT not in contract["text"]
    setup_files = set(re.findall(r"--setup_file=([^\"\\]+)", contract["text"]))
    schema_files = set(re.findall(r"\"(/[^\"]+\.pbtxt)\"", contract["text"]))
    assert setup_files == {f"{image.workdir}/setup.py"}
    assert schema_files == {f"{image.workdir}/schemas/{kind}_schema.pbtxt" for kind in ("video", "image")}
    assert all(os.path.isfile(image.host(p)) for p in setup_files | schema_files)
    stage = ("import sys; from apache_beam.options.pipeline_options import PipelineOptions; "
             "from apache_beam.runners.portability.stager import Stager; "
             "Stager.create_job_resources(PipelineOptions(sys.argv[1:2]), sys.argv[2])")
    setup_file = f"--setup_file={image.host(setup_files.pop())}"
    staged = subprocess.run([sys.executable, "-c", stage, setup_file, str(tmp_path)],
                            cwd=contract["launcher"].workdir, capture_output=True, text=True, timeout=300)
    assert staged.returncode == 0, staged.stderr[-3000:]
    [sdist] = [p for p in os.listdir(tmp_path) if p.endswith(".tar.gz")]
    with tarfile.open(tmp_path / sdist) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert {f"components/{p}/executor.py" for p in CUSTOM.values()} <= members
    assert {"laf/__init__.py", "schemas/video_schema.pbtxt", "trainer/run_fn.py"} <= members


def test_tasks_reuse_cached_results_unless_compiled_without_cache(contract, tmp_path):
    """A cluster cannot see that a file at the same path was rewritten: `laf compile --no-cache`."""
    from pipeline.kubeflow_v2_runner import compile_pipeline

    def caching(spec):
        return {name: task.get("cachingOptions", {}).get("enableCache", False)
                for name, task in spec["pipelineSpec"]["root"]["dag"]["tasks"].items()}

    cached = {name for name, on in caching(contract["spec"]).items() if on}
    assert {"VideoIngest", "ImageIngest", "DomainTransfer", "Trainer"} <= cached
    cfg = _tiny_config(str(tmp_path / "data"), str(tmp_path))
    path = compile_pipeline(cfg, "kubeflow", "example.org/laf:1", str(tmp_path / "spec.json"), enable_cache=False)
    with open(path) as f:
        assert not any(caching(json.load(f)).values())


def test_a_vertex_spec_with_a_local_root_is_a_note_on_stderr(tmp_path, capsys):
    """Notes go to stderr as every command's do; stdout keeps what a script reads (the spec's path)."""
    from pipeline.kubeflow_v2_runner import compile_pipeline

    cfg = _tiny_config(str(tmp_path / "data"), str(tmp_path))
    compile_pipeline(cfg, "vertex", "example.org/laf:1", str(tmp_path / "spec.json"))
    out, err = capsys.readouterr()
    assert "note: Vertex AI needs a gs:// pipeline_root" in err and "Vertex" not in out


def test_a_kubeflow_spec_has_no_resolver_task_which_its_backend_cannot_run(tmp_path, capsys):
    """The Kubeflow Pipelines 2 backend's compiler refuses a resolver executor ("resolver executors not
    implemented"): the spec TFX compiles for the baseline resolver failed at run creation. Vertex AI runs it."""
    from pipeline.kubeflow_v2_runner import TARGETS, compile_pipeline, no_baseline

    cfg = _tiny_config(str(tmp_path / "data"), str(tmp_path))
    specs = {}
    for target in TARGETS:
        with open(compile_pipeline(cfg, target, "example.org/laf:1", str(tmp_path / f"{target}.json"))) as f:
            specs[target] = json.load(f)["pipelineSpec"]

    def resolvers(spec):
        return sorted(name for name, e in spec["deploymentSpec"]["executors"].items() if "resolver" in e)

    def evaluator_inputs(spec):
        return set(spec["root"]["dag"]["tasks"]["Evaluator"]["inputs"].get("artifacts", {}))

    assert not resolvers(specs["kubeflow"]) and resolvers(specs["vertex"])
    assert "baseline_model" in evaluator_inputs(specs["vertex"])
    assert "baseline_model" not in evaluator_inputs(specs["kubeflow"])
    err = capsys.readouterr().err
    assert err.count(no_baseline(0.0)) == 1 and "(0, so every model)" in err  # said for the kubeflow spec only
    assert "note: Kubeflow Pipelines needs a gs:// pipeline_root" in err  # a local root
    # after a change of features or labels the last blessed model cannot read the new records: `--no-baseline`
    with open(compile_pipeline(cfg, "vertex", "example.org/laf:1", str(tmp_path / "none.json"), baseline=False)) as f:
        spec = json.load(f)["pipelineSpec"]
    assert not resolvers(spec) and "baseline_model" not in evaluator_inputs(spec)


def test_a_pipeline_name_kubeflow_refuses_is_a_one_line_error_at_compile(tmp_path):
    """LocalDagRunner takes `my_pipeline`; Kubeflow does not (TFX would raise a raw ValueError)."""
    from laf.errors import UserError
    from pipeline.kubeflow_v2_runner import compile_pipeline

    cfg = _tiny_config(str(tmp_path / "data"), str(tmp_path))
    cfg.pipeline_name = "my_pipeline"
    with pytest.raises(UserError, match="pipeline_name must be lowercase letters, digits and '-'"):
        compile_pipeline(cfg, "kubeflow", "example.org/laf:1", str(tmp_path / "spec.json"))


def test_a_folder_as_the_output_gets_pipeline_json_in_it_and_an_empty_one_is_refused(tmp_path, monkeypatch):
    """TFX writes an empty file name as pipeline.json beside the folder: `--output specs/` wrote ./pipeline.json."""
    from laf.errors import UserError
    from pipeline.kubeflow_v2_runner import compile_pipeline

    monkeypatch.chdir(tmp_path)
    cfg = _tiny_config(str(tmp_path / "data"), str(tmp_path))
    path = compile_pipeline(cfg, "kubeflow", "example.org/laf:1", "specs/")
    assert path == str(tmp_path / "specs" / "pipeline.json") and os.path.getsize(path) > 0
    assert compile_pipeline(cfg, "kubeflow", "example.org/laf:1", "specs") == path  # an existing folder
    assert sorted(os.listdir(tmp_path)) == ["specs"]
    with pytest.raises(UserError, match="--output: empty path"):
        compile_pipeline(cfg, "kubeflow", "example.org/laf:1", "")
