"""A stand-in for the Vertex AI / Kubeflow Pipelines v2 launcher and for the container image, so a
compiled pipeline spec's tasks can be run here exactly as the cluster would run them.

Why not mocks: what breaks on a cluster is the contract between the spec, the image and the TFX
container entrypoint (paths the image lacks, artifact types the entrypoint cannot import, parameters
it cannot parse). So each task runs its spec's own ``command`` + ``args`` in a fresh process, in a
working directory that is not the checkout, with ``{{$}}`` resolved by KFP's own placeholder code
(``kfp.local``) from an ExecutorInput built the way the launcher builds it: parameters from the
task's constants, input artifacts = the producing tasks' output artifacts with the metadata their
executors reported in ``executor_output.json``, output artifacts under the pipeline root.

The image is stood in for by a folder built from the Dockerfile's own WORKDIR / COPY / ENV lines
(``build_image``): the spec's paths under the image's WORKDIR resolve there and nowhere else.
Its RUN lines install the locked requirements and this package; this venv stands in for those.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from concurrent import futures
from typing import Any, Dict, Iterator, List, Sequence, Tuple

# The KFP launcher writes each task's outputs under <root>/<job>/<task>_<id>/ (Vertex's layout).
JOB = "laf-contract-job"


@dataclasses.dataclass
class StandInImage:
    """A folder standing in for the container's file system root."""

    root: str
    workdir: str = "/"
    env: Dict[str, str] = dataclasses.field(default_factory=dict)

    def host(self, image_path: str) -> str:
        """Where an absolute path inside the image is in the stand-in folder."""
        return os.path.join(self.root, image_path.lstrip("/"))

    def map_paths(self, text: str) -> str:
        """``text`` with every image path under WORKDIR moved into the stand-in (a chroot by hand)."""
        workdir = self.workdir.rstrip("/")
        return re.sub(rf"(?<![\w/.-]){re.escape(workdir)}(?=/|$)", self.host(workdir), text)


def _instructions(dockerfile: str) -> Iterator[Tuple[str, str]]:
    """(KEYWORD, rest) per instruction, continuation lines joined."""
    with open(dockerfile) as f:
        text = re.sub(r"\\\n", " ", f.read())
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            yield keyword.upper(), rest.strip()


def build_image(dockerfile: str, context: str, root: str) -> StandInImage:
    """Apply the Dockerfile's WORKDIR, COPY and ENV instructions to an empty folder ``root``."""
    image = StandInImage(root=root)
    for keyword, rest in _instructions(dockerfile):
        if keyword == "WORKDIR":
            image.workdir = os.path.join(image.workdir, rest)
        elif keyword == "COPY":
            *sources, dest = shlex.split(rest)
            target = image.host(os.path.join(image.workdir, dest))
            for source in sources:
                src = os.path.join(context, source)
                if os.path.isdir(src):  # Docker copies a folder's contents into the destination
                    shutil.copytree(src, target, dirs_exist_ok=True,
                                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
                else:
                    os.makedirs(target if dest.endswith("/") else os.path.dirname(target), exist_ok=True)
                    shutil.copy2(src, target)
        elif keyword == "ENV":
            key, _, value = rest.replace("=", " ", 1).partition(" ")
            image.env[key] = value.strip()
    return image


class Launcher:
    """Runs a compiled spec's tasks one at a time, wiring artifacts as the launcher does."""

    def __init__(self, spec: Dict[str, Any], image: StandInImage, pipeline_root: str, workdir: str):
        self.spec = spec["pipelineSpec"]
        self.image = image
        self.pipeline_root = pipeline_root
        self.workdir = workdir  # the process's working directory: the image's WORKDIR is not it
        self.inputs: Dict[str, Dict[str, Any]] = {}   # task -> the ExecutorInput it was given
        self.outputs: Dict[str, Dict[str, Any]] = {}  # task -> {key: RuntimeArtifact as JSON}
        self.commands: Dict[str, List[str]] = {}
        self.seconds: Dict[str, float] = {}

    def _component(self, task: str) -> Dict[str, Any]:
        return self.spec["components"][self.spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]]

    def executor_input(self, task: str, task_root: str) -> Dict[str, Any]:
        """The ExecutorInput of ``task``: constants, upstream artifacts, fresh output URIs."""
        task_spec = self.spec["root"]["dag"]["tasks"][task]
        component = self._component(task)
        params = {k: v["runtimeValue"]["constant"] for k, v in task_spec["inputs"].get("parameters", {}).items()}
        params = {k: self.image.map_paths(v) if isinstance(v, str) else v for k, v in params.items()}
        artifacts = {}
        for key, source in task_spec["inputs"].get("artifacts", {}).items():
            producer = source["taskOutputArtifact"]
            upstream = self.outputs[producer["producerTask"]][producer["outputArtifactKey"]]
            declared = component["inputDefinitions"]["artifacts"][key]["artifactType"]
            artifacts[key] = {"artifacts": [{**upstream, "type": declared}]}
        outputs = {
            key: {"artifacts": [{"name": f"{task}-{key}-{uuid.uuid4().hex[:8]}", "type": d["artifactType"],
                                 "uri": os.path.join(task_root, key), "metadata": {}}]}
            for key, d in component.get("outputDefinitions", {}).get("artifacts", {}).items()}
        return {"inputs": {"parameterValues": params, "artifacts": artifacts},
                "outputs": {"artifacts": outputs, "outputFile": os.path.join(task_root, "executor_output.json")}}

    def command(self, task: str, executor_input: Dict[str, Any]) -> List[str]:
        """The task's container command line with its placeholders resolved by KFP's local runner code."""
        from google.protobuf import json_format
        from kfp.local import executor_input_utils, placeholder_utils
        from kfp.pipeline_spec import pipeline_spec_pb2

        component = self._component(task)
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]["container"]
        message = json_format.ParseDict(executor_input, pipeline_spec_pb2.ExecutorInput())  # strict: no unknown keys
        as_dict = executor_input_utils.executor_input_to_dict(
            message, json_format.ParseDict(component, pipeline_spec_pb2.ComponentSpec()))
        line = [self.image.map_paths(a) for a in executor["command"] + executor["args"]]
        return placeholder_utils.replace_placeholders(line, as_dict, JOB, task, self.pipeline_root)

    def env(self) -> Dict[str, str]:
        """The image's environment: its ENV lines (paths in the stand-in), its Python first on PATH."""
        env = {k: self.image.map_paths(v) for k, v in self.image.env.items()}
        env.update(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.defpath]),
                   HOME=self.workdir, LANG="C.UTF-8", TF_CPP_MIN_LOG_LEVEL="2")
        return env

    def run(self, task: str, timeout: float = 600) -> Dict[str, Any]:
        """Run ``task`` in a fresh process; return its ``executor_output.json``."""
        task_root = os.path.join(self.pipeline_root, JOB, f"{task}_{uuid.uuid4().hex[:8]}")
        os.makedirs(task_root)  # the launcher prepares the task's folder; the executor fills it
        executor_input = self.executor_input(task, task_root)
        self.commands[task] = self.command(task, executor_input)
        start = time.monotonic()
        done = subprocess.run(self.commands[task], cwd=self.workdir, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)
        self.seconds[task] = time.monotonic() - start
        if done.returncode != 0:
            raise AssertionError(f"{task} exited with {done.returncode}:\n{done.stderr[-6000:]}")
        with open(executor_input["outputs"]["outputFile"]) as f:
            executor_output = json.load(f)
        self.inputs[task] = executor_input
        self.outputs[task] = {}
        for key, [artifact] in ((k, v["artifacts"]) for k, v in executor_input["outputs"]["artifacts"].items()):
            [reported] = executor_output["artifacts"][key]["artifacts"]
            self.outputs[task][key] = {"name": artifact["name"], "uri": artifact["uri"],
                                       "metadata": reported.get("metadata", {})}
        return executor_output

    def run_all(self, tasks: Sequence[str], parallel: int = 2) -> None:
        """Run ``tasks`` in dependency order (the spec's ``dependentTasks`` among them), up to
        ``parallel`` at a time as the cluster would; the first failure is raised."""
        deps = {t: set(self.spec["root"]["dag"]["tasks"][t].get("dependentTasks", [])) & set(tasks) for t in tasks}
        done: set = set()
        running: Dict[futures.Future, str] = {}
        with futures.ThreadPoolExecutor(parallel) as pool:
            while len(done) < len(tasks):
                for task in tasks:
                    if task not in done and task not in running.values() and deps[task] <= done \
                            and len(running) < parallel:
                        running[pool.submit(self.run, task)] = task
                finished, _ = futures.wait(running, return_when=futures.FIRST_COMPLETED)
                for future in finished:
                    future.result()
                    done.add(running.pop(future))
