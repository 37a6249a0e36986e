"""A finished local run's artifacts and scored records, for benchmarks and diagnostics.

Located through the run's ML Metadata: the VideoIngest examples and vocabulary, the DomainTransfer
``scored_examples`` (frames with ``laf_score``) and rounds, the ImageIngest examples, the pushed
(or latest trained) model. Ground truth is the records' own segments; records ingested without
them get the segments of an ActivityNet file beside the run's manifest
(``annotations/activitynet.json``, the demo's layout), and the note says so; likewise THUMOS14's
Ambiguous segments (``annotations/thumos14``).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, Dict, List, Optional, Tuple

from laf import run_store
from laf.errors import UserError
from schemas.names import SPLITS
from schemas.records import VideoRecord
from schemas.vocabulary import Vocabulary

log = logging.getLogger(__name__)



@dataclasses.dataclass
class Run:
    videos: str           # VideoIngest examples
    vocabulary: str       # LabelVocabulary directory
    scored: str           # DomainTransfer scored_examples
    rounds: str           # DomainTransferRounds directory
    images: str           # ImageIngest examples
    manifest: str
    transfer_props: Dict[str, object]
    model: Optional[str]  # serving SavedModel directory of the pushed (else the latest Trainer's) model
    trainer_config: Dict[str, object]  # the Trainer's custom_config
    model_uri: Optional[str] = None  # the Trainer's ``Model`` artifact: its name, where ``model`` is a push's copy

    @property
    def data_dir(self) -> str:
        return os.path.dirname(self.manifest)


def _model(store) -> Tuple[Optional[str], Any]:
    """(where the run's model is, its Trainer ``Model`` artifact): the pushed copy if it is still
    there, else the same model where the Pusher got it (its own copy under the pipeline root, or its
    ``model`` input); without a push (not blessed) the latest finished Trainer's; (None, None) when no
    Trainer finished. Why the Trainer's, not the latest ``Model``: DomainTransfer's image model is a
    ``Model`` too. The push is the latest Pusher's (:func:`run_store.latest_outputs`: a cached rerun's
    is an earlier run's artifact)."""
    pushed = run_store.latest_push(store)
    destination = run_store.pushed_destination(pushed) if pushed is not None else None
    if destination:
        inputs = run_store.made_by(store, pushed).inputs.get("model", [])
        model = run_store.latest(inputs)
        for copy in [destination, pushed.uri] + [run_store.serving_dir(m.uri) for m in inputs]:
            if run_store.holds_model(copy):
                if copy != destination:
                    log.warning("the pushed model %s is gone (moved or deleted); using the same model at %s",
                                destination, copy)
                return copy, model
        log.warning("the pushed model %s is gone, and so is the Pusher's copy %s%s", destination, pushed.uri,
                    " and the model it was given" if inputs else " (its model input is not recorded)")
        return None, model
    model = run_store.latest(run_store.latest_outputs(store, run_store.TRAINER).get("model", []))
    return (run_store.serving_dir(model.uri), model) if model is not None else (None, None)


def custom_config(props: Dict[str, Any]) -> Dict[str, object]:
    """A Trainer execution's ``custom_config`` ({} without one)."""
    import json

    custom = props.get("custom_config")
    return json.loads(custom) if isinstance(custom, str) else dict(custom or {})


def trainer_config(store) -> Dict[str, object]:
    """The latest finished Trainer's ``custom_config`` ({} if none finished)."""
    try:
        props, _ = run_store.latest_execution(store, run_store.TRAINER)
    except UserError:
        return {}
    return custom_config(props)


def locate(pipeline_root: str, need_model: bool = False) -> Run:
    """The run's model and the records, rounds and images it was trained from, followed through its
    lineage (a cached rerun links an earlier run's artifacts; a later run stopped midway has newer
    executions of the first stages); without a model, what the latest DomainTransfer scored, through
    its own lineage too.
    ``need_model``: a run without a trained model is refused (a bench that scores the model)."""
    store = run_store.open_store(pipeline_root)
    model_dir, model = _model(store)
    if need_model and model_dir is None:
        raise UserError(f"{pipeline_root} holds no trained model: run the pipeline through its Trainer first"
                        if model is None else f"{pipeline_root}: the files of its model {model.uri} are gone"
                        " (moved or deleted), and so is every copy the run recorded")
    if model is not None:
        line, whose = run_store.lineage(store, model), f"the model {model.uri}"
    else:  # the latest domain transfer's own inputs: a later run stopped after ingestion has newer labels
        scored = run_store.latest(run_store.latest_outputs(store, run_store.DOMAIN_TRANSFER).get("scored_examples", []))
        if scored is None:
            raise UserError(f"{pipeline_root}: the run's metadata holds no finished DomainTransfer's scored examples")
        line, whose = run_store.scored_lineage(store, scored), f"the scored examples {scored.uri}"
    if None in (line.videos, line.vocabulary, line.rounds, line.images) or "manifest" not in line.ingest.props:
        raise UserError(f"{pipeline_root}: the lineage of {whose} is incomplete in the run's metadata (its VideoIngest"
                        " examples or vocabulary, DomainTransfer rounds or web images are not recorded)")
    return Run(line.videos.uri, line.vocabulary.uri, line.scored.uri, line.rounds.uri, line.images.uri,
               str(line.ingest.props["manifest"]), line.transfer.props, model_dir,
               custom_config(line.trainer.props) if model is not None else trainer_config(store),
               model.uri if model is not None else None)


def scored_records(run: Run, vocabulary: Vocabulary) -> Tuple[Dict[str, List[VideoRecord]], str]:
    """The scored records of every split with ground truth attached; and where the truth came from.
    The benchmarks reading them fit on train and score test: a run without either is refused. A run
    without any ground truth (weak labels only) is scored on what needs none (Hit@k), with a note."""
    from laf.evaluate import annotations
    from laf.ingest import video_ingest

    records = {s: video_ingest.read_records(run.scored, s) for s in SPLITS}
    _attach_ambiguous(run, records)
    empty = [s for s in ("train", "test") if not records[s]]
    if empty:
        raise UserError(f"the run has no {' and no '.join(empty)} videos ({run.scored}); the benchmarks fit on the"
                        " train split and score the test split")
    if any(r.segments for s in SPLITS for r in records[s]):
        return records, "ground truth: the records' own segments"
    anet = os.path.join(run.data_dir, "annotations", "activitynet.json")
    if not os.path.isfile(anet):
        return records, (f"ground truth: none (the run's records carry no segments and {anet} does not exist):"
                         " what needs it is null")
    gt = annotations.read_ground_truth(anet)
    for split in SPLITS:
        for r in records[split]:
            r.segments = list(gt.get(r.video_id, []))
            try:
                r.segment_label_indices = [vocabulary.index(s.label) for s in r.segments]
            except KeyError as e:
                raise UserError(f"{anet}: video {r.video_id}: {e.args[0]}") from None
    return records, (f"ground truth: the records carry no segments (the run's manifest has none), so they"
                     f" come from {anet}")


def _attach_ambiguous(run: Run, records: Dict[str, List[VideoRecord]]) -> None:
    """Records ingested before they carried THUMOS14's Ambiguous segments get them from the folder
    beside the manifest (the demo's layout), if it holds any."""
    from laf.evaluate import annotations

    folder = os.path.join(run.data_dir, "annotations", "thumos14")
    if any(r.ambiguous for s in SPLITS for r in records[s]) or not os.path.isdir(folder):
        return
    subsets = annotations.thumos14_subsets(folder)
    for split in SPLITS:
        if split not in subsets:
            continue
        found = annotations.read_ambiguous(folder, split)
        for r in records[split]:
            r.ambiguous = list(found.get(r.video_id, []))
