"""Reading a finished local run through its ML Metadata store (``<pipeline_root>/metadata.sqlite``,
or for a ``gs://`` root a local file named by it: :func:`metadata_path`).

One place for what `laf demo`, `laf report`, `laf localize` and the paper benchmark all need:
the store, the latest artifact or finished execution, and a ModelEvaluation's metrics.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from laf import files
from laf.errors import UserError

METADATA_FILE = "metadata.sqlite"


METADATA_HOME_ENV = "LAF_METADATA_HOME"  # where the metadata of runs with a remote pipeline root is kept


def metadata_path(pipeline_root: str) -> str:
    """The SQLite file of a run's ML Metadata: beside its artifacts for a local root; for a remote
    one (``gs://b/root``), which SQLite cannot open, on this machine under ``$LAF_METADATA_HOME``
    (default ``~/.laf/metadata``) at ``gs/b/root/metadata.sqlite``. Why not in the root: SQLite
    would read ``gs://b/root/metadata.sqlite`` as the relative path ``gs:/b/root/...`` of the
    current folder, so a rerun from another folder would find no cache and no blessed baseline."""
    if not files.is_remote(pipeline_root):
        return os.path.join(files.local(pipeline_root), METADATA_FILE)
    scheme, rest = pipeline_root.split("://", 1)
    parts = [p for p in rest.split("/") if p not in ("", ".", "..")]
    home = os.environ.get(METADATA_HOME_ENV) or os.path.join(os.path.expanduser("~"), ".laf", "metadata")
    return os.path.join(home, scheme, *parts, METADATA_FILE)


def open_store(pipeline_root: str):
    """The run's MetadataStore; a root without one is a user mistake, caught before TF loads."""
    path = metadata_path(pipeline_root)
    if not os.path.isfile(path):
        where = (f" (the metadata of a run with a remote pipeline root stays on the machine that ran it, under"
                 f" ${METADATA_HOME_ENV} or ~/.laf/metadata)" if files.is_remote(pipeline_root) else "")
        raise UserError(f"{path} not found: the pipeline root must be the root of a finished local run{where}")
    _check_store(path)
    from ml_metadata.metadata_store import metadata_store
    from tfx.orchestration import metadata

    return metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))


def _check_store(path: str) -> None:
    """Refuse a file that is no ML Metadata store before MLMD opens it: MLMD would create its tables
    in any SQLite file (an empty one included), changing the user's file and reading an empty run."""
    import sqlite3

    with open(path, "rb") as f:
        header = f.read(16)
    if header != b"SQLite format 3\x00":
        raise UserError(f"{path} is {'empty' if not header else 'not an SQLite database'}: not a pipeline run's"
                        " metadata store")
    try:
        uri = pathlib.Path(path).resolve().as_uri() + "?mode=ro"  # escaped: '#', '?' or '%' in a folder name
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as e:
        if os.path.exists(path + "-journal"):
            return  # the hot journal of a killed run, which only a writer recovers: left to MLMD
        raise UserError(f"cannot read {path}: {e}") from None
    if not {"Type", "Artifact", "Execution"} <= tables:
        raise UserError(f"{path} is an SQLite database but not an ML Metadata store (no MLMD tables)")


def latest(artifacts: Sequence[Any]):
    """The most recently registered of the published ``artifacts`` (highest id), or None. Why only
    published (LIVE): a failed or killed execution leaves its outputs registered but PENDING."""
    from ml_metadata.proto import metadata_store_pb2

    live = [a for a in artifacts if a.state == metadata_store_pb2.Artifact.LIVE]
    return max(live, key=lambda a: a.id) if live else None


def serving_dir(model_uri: str) -> str:
    """The SavedModel folder of a Trainer's Model artifact (TFX's ``Format-Serving``)."""
    return files.join(model_uri, "Format-Serving")


def pushed_destination(pushed) -> Optional[str]:
    """Where a ``PushedModel`` artifact's model was pushed; None when it was not (not blessed)."""
    props = pushed.custom_properties
    return props["pushed_destination"].string_value if props["pushed"].int_value else None


TRAINER = "tfx.components.trainer.component.Trainer"
EVALUATOR = "tfx.components.evaluator.component.Evaluator"
PUSHER = "tfx.components.pusher.component.Pusher"
VIDEO_INGEST = "components.video_ingest.component.VideoIngest"
DOMAIN_TRANSFER = "components.domain_transfer.component.DomainTransfer"
IMAGE_INGEST = "components.image_ingest.component.ImageIngest"


def latest_execution(store, type_name: str) -> Tuple[Dict[str, Any], Dict[str, List[Any]]]:
    """(execution properties, output artifacts by channel key) of the latest finished (or cached)
    execution of the component type ``type_name`` (``components.<module>.component.<Class>``)."""
    from ml_metadata.proto import metadata_store_pb2

    done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    runs = [e for e in store.get_executions_by_type(type_name) if e.last_known_state in done]
    if not runs:
        raise UserError(f"the pipeline run holds no finished {type_name.rsplit('.', 1)[-1]} execution")
    run = max(runs, key=lambda e: e.id)
    return _properties(run), artifacts_by_key(store, [run.id], metadata_store_pb2.Event.OUTPUT)


def _properties(execution) -> Dict[str, Any]:
    return {k: getattr(v, v.WhichOneof("value")) for k, v in execution.custom_properties.items()}


def latest_outputs(store, type_name: str) -> Dict[str, List[Any]]:
    """Output artifacts by channel key of the latest finished (or cached) execution of the component
    type ``type_name``; {} when none finished. Why by execution, not the highest artifact id: a cached
    rerun links the artifacts of an earlier run, whose ids are lower than any run's in between."""
    try:
        return latest_execution(store, type_name)[1]
    except UserError:
        return {}


@dataclasses.dataclass
class Made:
    """The execution that output an artifact: its properties and its artifacts by channel key."""
    props: Dict[str, Any]
    inputs: Dict[str, List[Any]]
    outputs: Dict[str, List[Any]]


def made_by(store, artifact) -> Made:
    """The latest execution that output ``artifact`` (a cached rerun's links the same artifacts and
    has the same inputs); empty when none is recorded."""
    from ml_metadata.proto import metadata_store_pb2

    made = producers(store, artifact) if artifact is not None else []
    if not made:
        return Made({}, {}, {})
    [execution] = store.get_executions_by_id([max(made)])
    return Made(_properties(execution), artifacts_by_key(store, [execution.id], metadata_store_pb2.Event.INPUT),
                artifacts_by_key(store, [execution.id], metadata_store_pb2.Event.OUTPUT))


@dataclasses.dataclass
class Lineage:
    """What a Trainer's model was trained from, read once; an artifact the metadata lacks is None."""
    trainer: Made     # the Trainer execution that made the model
    transfer: Made    # the DomainTransfer that scored its training examples
    ingest: Made      # the VideoIngest of the videos those examples scored
    scored: Any       # the training examples (DomainTransfer's scored_examples)
    videos: Any       # VideoIngest examples
    images: Any       # ImageIngest examples
    rounds: Any       # DomainTransferRounds
    vocabulary: Any   # LabelVocabulary


def lineage(store, model) -> Lineage:
    """The artifacts and executions ``model`` was trained from, each execution read once."""
    trainer = made_by(store, model)
    return scored_lineage(store, latest(trainer.inputs.get("examples", [])), trainer)


def scored_lineage(store, scored, trainer: Optional[Made] = None) -> Lineage:
    """What DomainTransfer's ``scored`` examples were made from (``trainer``: the one that trained on
    them, if any), each execution read once."""
    trainer = trainer if trainer is not None else Made({}, {}, {})
    transfer = made_by(store, scored)
    videos = latest(transfer.inputs.get("videos", []))
    ingest = made_by(store, videos)
    return Lineage(trainer, transfer, ingest, scored, videos, latest(transfer.inputs.get("images", [])),
                   latest(transfer.outputs.get("rounds", [])), latest(ingest.outputs.get("vocabulary", [])))


def latest_push(store):
    """The latest finished Pusher's ``PushedModel`` (pushed or not), or None."""
    return latest(latest_outputs(store, PUSHER).get("pushed_model", []))


def upstream(store, artifact, key: str):
    """The input ``key`` of the execution that output ``artifact`` (its lineage), or None."""
    return latest(made_by(store, artifact).inputs.get(key, []))


def beside(store, artifact, key: str):
    """The output ``key`` of the execution that output ``artifact`` (e.g. the rounds made with the
    scored examples), or None."""
    return latest(made_by(store, artifact).outputs.get(key, []))


def producers(store, artifact) -> List[int]:
    """The executions that output ``artifact`` (its producer, and a cached rerun's that reused it)."""
    from ml_metadata.proto import metadata_store_pb2

    return [e.execution_id for e in store.get_events_by_artifact_ids([artifact.id])
            if e.type == metadata_store_pb2.Event.OUTPUT]


def producer_inputs(store, executions: Sequence[int]) -> Dict[str, List[Any]]:
    """The inputs of ``executions`` (:func:`producers` of an artifact), by channel key."""
    from ml_metadata.proto import metadata_store_pb2

    return artifacts_by_key(store, executions, metadata_store_pb2.Event.INPUT) if executions else {}


def holds_model(folder: str) -> bool:
    """Whether ``folder`` holds a SavedModel (a push, the Pusher's copy, a Trainer's serving dir)."""
    return files.exists(files.join(folder, "saved_model.pb"))


def model_versions(serving_dir: str) -> Dict[int, str]:
    """Version number -> folder, of a serving folder's numbered subfolders that hold a model (TF
    Serving's versions, the highest served); empty for a folder that is missing or holds none."""
    found = {}
    for name in files.listdir(serving_dir) if files.isdir(serving_dir) else []:
        name = name.rstrip("/")
        if name.isdigit() and holds_model(files.join(serving_dir, name)):
            found[int(name)] = files.join(serving_dir, name)
    return found


def artifacts_by_key(store, execution_ids: Sequence[int], event_type) -> Dict[str, List[Any]]:
    """Artifacts of the given event type (INPUT/OUTPUT) of some executions, by their channel key."""
    by_key: Dict[str, List[int]] = {}
    for event in store.get_events_by_execution_ids(list(execution_ids)):
        if event.type == event_type and event.path.steps:
            by_key.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
    return {k: store.get_artifacts_by_id(ids) for k, ids in by_key.items()}


def eval_metrics(eval_uri: str):
    """(metric -> value on the overall slice, the EvalConfig) of a ModelEvaluation; when a baseline
    model was evaluated too, the candidate's values (``*_diff`` metrics are left out)."""
    import tensorflow_model_analysis as tfma

    if not files.isdir(eval_uri):  # TFMA reads a missing folder as an evaluation without metrics
        raise UserError(f"the Evaluator's output {files.shown(eval_uri)} is missing (deleted since the run?)")
    try:
        result = tfma.load_eval_result(eval_uri)
    except ValueError:  # a multi-model evaluation (candidate vs. baseline) needs the model's name
        result = tfma.load_eval_result(eval_uri, model_name="candidate")
    out: Dict[str, float] = {}
    for slice_key, by_output in result.slicing_metrics:
        if slice_key:  # the overall slice only
            continue
        for by_sub_key in by_output.values():
            for metrics in by_sub_key.values():
                for name, value in metrics.items():
                    if isinstance(value, dict) and "doubleValue" in value and not name.endswith("_diff"):
                        out[name] = float(value["doubleValue"])
    if not out:
        raise UserError(f"the Evaluator's output {files.shown(eval_uri)} holds no metrics")
    return out, result.config
