"""What the HTML report shows, gathered from a finished LocalDagRunner run through ML Metadata (TF/TFX
are imported inside the functions that run its model), and the baselines a ``bench/paper_tables.py``
JSON adds to it."""
from __future__ import annotations

import dataclasses
import itertools
import json
import os
from typing import Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from laf import files, run_store
from laf.errors import UserError
from laf.report.page import RUN_METHOD, ReportData, VideoTimeline
from laf.serve.localize import model_vocabulary
from schemas import transfer_files

# --- baselines -------------------------------------------------------------------------------------

Baselines = Tuple[Dict[str, Dict[str, float]], Dict[str, Dict[str, float]],
                  Dict[str, Dict[str, List[Optional[float]]]]]


def load_baselines(path: str) -> Baselines:
    """Means, stds and (when the file has them) per-frame profiles per method from a
    ``bench/paper_tables.py`` JSON (``{"results": {m: {k: {mean, std}}}, "profiles": {m: {k: [..]}}}``)."""
    try:
        with open(path) as f:
            loaded = json.load(f)
        results = loaded["results"]
        # paper_tables writes an undefined mean (no frames before any action, no ground truth) as null
        means = {m: {k: float("nan") if v["mean"] is None else float(v["mean"]) for k, v in ms.items()}
                 for m, ms in results.items()}
        stds = {m: {k: float(v["std"]) for k, v in ms.items() if v.get("std") is not None} for m, ms in results.items()}
        profiles = {m: _profile(p) for m, p in (loaded.get("profiles") or {}).items()}
        for metric in sorted({k for ms in means.values() for k in ms if k.startswith("mAP@")}):
            try:
                float(metric[4:])  # the page orders mAP columns by their tIoU
            except ValueError:
                raise ValueError(f"metric {metric!r}: an mAP column names its tIoU, e.g. mAP@0.5") from None
    except OSError as e:
        raise UserError(f"cannot read baselines {path}: {e.strerror}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path} is not a bench/paper_tables.py JSON "
                        f'({{"results": {{method: {{metric: {{"mean": x, "std": x}}}}}}}}, optional "profiles": '
                        f'{{method: {{"offset": [..], "p_label": [..], "action_share": [..]}}}}): {e!r}') from None
    return means, stds, profiles


PROFILE_KEYS = ("offset", "p_label", "action_share")  # what every profile needs; "actionness", "videos" optional


def _profile(profile: Dict[str, Any]) -> Dict[str, List[Optional[float]]]:
    """One method's per-frame profile, checked: the required keys, equal lengths, numbers or None."""
    missing = [k for k in PROFILE_KEYS if k not in profile]
    if missing:
        raise KeyError(f"profile lacks {missing}")
    out = {k: [None if x is None else float(x) for x in v] for k, v in profile.items()}
    if len({len(v) for v in out.values()}) != 1:
        raise ValueError(f"profile lists differ in length: { {k: len(v) for k, v in out.items()} }")
    return out


# --- collect: a finished LocalDagRunner run, through ML Metadata ------------------------------------

@dataclasses.dataclass
class Sources:
    """The artifacts one report shows, all of one model's lineage (None: missing)."""
    evaluation: Any = None
    evaluators: List[int] = dataclasses.field(default_factory=list)  # the evaluation's producers
    model: Any = None     # the evaluated model, else the latest finished Trainer's
    examples: Any = None  # VideoIngest examples the model was evaluated on (else trained from)
    rounds: Any = None    # the DomainTransferRounds made with the model's training examples
    images: Any = None    # the ImageIngest examples those rounds filtered


def sources(store) -> Sources:
    """The latest finished Evaluator's evaluation, its model and examples, and the domain-transfer
    rounds and web images that model was trained from, followed through the run's lineage. Why not
    the highest artifact id of each type: a cached rerun links an earlier run's artifacts, whose ids
    are lower than those of any run in between, so the newest ids may belong to another run."""
    found = Sources()
    found.evaluation = run_store.latest(run_store.latest_outputs(store, run_store.EVALUATOR).get("evaluation", []))
    if found.evaluation is not None:
        found.evaluators = run_store.producers(store, found.evaluation)
    inputs = run_store.producer_inputs(store, found.evaluators)
    # the Trainer's, not any Model: DomainTransfer's image model is one too (a run stopped in training)
    found.model = run_store.latest(inputs.get("model", [])) or run_store.latest(
        run_store.latest_outputs(store, run_store.TRAINER).get("model", []))
    line = run_store.lineage(store, found.model) if found.model is not None else None
    if line is not None and line.scored is not None:
        found.rounds, trained_on = line.rounds, line.videos
        found.images = line.images if line.rounds is not None else None
    else:  # no model, or its lineage unrecorded: each component's latest
        found.rounds = run_store.latest(run_store.latest_outputs(store, run_store.DOMAIN_TRANSFER).get("rounds", []))
        trained_on = run_store.latest(run_store.latest_outputs(store, run_store.VIDEO_INGEST).get("examples", []))
        found.images = found.rounds and run_store.upstream(store, found.rounds, "images")
    found.examples = run_store.latest(inputs.get("examples", [])) or trained_on
    return found


def _older_run(store, evaluators: List[int]) -> List[str]:
    """A note when the latest pipeline run is not one the evaluation belongs to (it stopped before its
    Evaluator finished, or is still running): everything the report shows is an earlier run's.
    ``evaluators``: the evaluation's :func:`run_store.producers` (a cached rerun's Evaluator links it too)."""
    runs = sorted(c.id for c in store.get_contexts_by_type("pipeline_run"))
    if not runs:
        return []
    evaluated = {c.id for p in evaluators for c in store.get_contexts_by_execution(p)}
    if runs[-1] in evaluated:
        return []
    earlier = max((i for i in evaluated if i in runs), default=None)
    which = "?" if earlier is None else runs.index(earlier) + 1  # by order, not by name: a name is its start time
    return [f"the metrics, model, per-class AP, timelines and domain-transfer rounds are from run {which} of"
            f" {len(runs)} in this pipeline root; the latest, run {len(runs)}, has no finished Evaluator (stopped, or"
            " still running)"]


def _map_config(eval_config) -> Dict[str, object]:
    """The evaluation's LocalizationMAP metric settings ({} if absent)."""
    for spec in getattr(eval_config, "metrics_specs", []) if eval_config is not None else []:
        for metric in spec.metrics:
            if metric.class_name == "LocalizationMAP":
                return json.loads(metric.config or "{}")
    return {}


def _localize_settings(eval_config, store, model, notes: List[str]):
    """Sliding-window settings of the evaluation's LocalizationMAP metric; without an evaluation,
    those the model's Trainer exported into its ``localize`` signature (the run's config), so the
    report localizes as the run does; the paper's defaults only where neither is known."""
    from laf.evaluate import evaluation as ev
    from laf.evaluate.run_records import custom_config

    c = _map_config(eval_config)
    if not c:
        c = custom_config(run_store.made_by(store, model).props).get("localize") or {}
        notes.append("localization settings: " + ("the Trainer's (the run's config)" if c else
                                                  "the paper's defaults (no Evaluator and no Trainer config names"
                                                  " them)"))
    return ev.LocalizeConfig(**{f.name: c[f.name] for f in dataclasses.fields(ev.LocalizeConfig) if f.name in c})


def _predict(model_uri: str, records: Iterable, batch_size: int = 8):
    """Per video, in order, (probabilities [T, N], timestamps [T], actionness [T] or None) from the
    serving signature, up to ``batch_size`` records and :data:`batches.FRAME_SLOTS` padded frames at a
    time (a whole test split's features need not fit in memory, nor 8 videos padded to a 6-hour one);
    timestamps as the TFMA metrics take them: the ``timestamps`` output if the model has one, else
    ``i / fps``."""
    import tensorflow as tf

    from laf.evaluate import batches

    serving_dir = run_store.serving_dir(model_uri)
    if not tf.io.gfile.exists(serving_dir):
        raise UserError(f"{serving_dir} not found: the Model artifact has no serving export")
    fn = tf.saved_model.load(serving_dir).signatures["serving_default"]
    for batch in batches.groups(records, lambda record: len(record.timestamps), batch_size):
        result = fn(examples=tf.constant([r.serialize() for r in batch]))
        probs, counts = result["probabilities"].numpy(), result["num_frames"].numpy()
        stamps = result["timestamps"].numpy() if "timestamps" in result else None
        actionness = result["actionness"].numpy() if "actionness" in result else None
        for j, record in enumerate(batch):
            n = int(counts[j])
            t = stamps[j, :n] if stamps is not None else np.arange(n) / float(record.fps)
            yield probs[j, :n], np.asarray(t, np.float64), None if actionness is None else actionness[j, :n]


def _test_videos(examples_uri: str) -> Iterator:
    """The test split's records, one at a time."""
    from laf import tfrecords
    from schemas.records import VideoRecord

    split = tfrecords.split_dir(examples_uri, "test")
    return (VideoRecord.parse(raw) for raw in tfrecords.read(split)) if tfrecords.files(split) else iter(())


def _shown(videos, count: int) -> List[int]:
    """Indices of up to ``count`` videos with ground truth, one per label first, by video id."""
    order = sorted((i for i, v in enumerate(videos) if v.segments), key=lambda i: videos[i].video_id)
    first, seen = [], set()
    for i in order:
        if videos[i].label not in seen:
            seen.add(videos[i].label)
            first.append(i)
    return (first + [i for i in order if i not in first])[:count]


def _without_features(video):
    """The record with a [0, D] array of its own as features. Why not ``features[:0]``: a view, which
    keeps the whole array alive (every test video's features, 110 MB for a 6-hour one)."""
    return dataclasses.replace(video, features=np.zeros((0, video.features.shape[1]), np.float32))


def _localization(data: ReportData, model_uri: str, examples_uri: str, labels: Sequence[str], config,
                  max_videos: int, protocol: str = "activitynet") -> None:
    """Per-class AP (by the Evaluator's ``protocol``) and PR curves (ActivityNet's matching) at tIoU 0.5
    and the timelines, from the model run on the test split. One pass over the records: each one's
    features go to the model a batch at a time and are dropped; per video only its detections and
    its label's evidence curve are kept."""
    from laf.evaluate import evaluation as ev, thumos14

    videos: List[Any] = []

    def kept_without_features():
        for video in _test_videos(examples_uri):
            videos.append(_without_features(video))
            yield video

    records = kept_without_features()
    first = next(records, None)
    if first is None:
        data.notes.append(f"{examples_uri} has no test videos: no per-class AP, PR curves or timelines")
        return
    detections, curves = [], []
    for i, (p, t, a) in enumerate(_predict(model_uri, itertools.chain([first], records))):
        detections.append(ev.localize(videos[i].video_id, p, t, labels, config, videos[i].duration, actionness=a))
        curves.append((t, ev.class_evidence(p, a)[:, videos[i].label_index].copy()))  # not a view of [T, N]
    gt, found = ev.annotated_only({v.video_id: v.segments for v in videos}, [d for ds in detections for d in ds])
    ambiguous = {v.video_id: list(v.ambiguous) for v in videos if v.ambiguous}
    per_class = thumos14.by_protocol(protocol)(gt, found, [0.5], ambiguous).ap
    data.class_ap = {c: float(ap[0]) for c, ap in per_class.items()}
    data.pr_curves = ev.precision_recall(gt, found, 0.5, ambiguous)
    data.timelines = [VideoTimeline(videos[i].video_id, videos[i].label, videos[i].duration, videos[i].segments,
                                    detections[i], *curves[i], videos[i].ambiguous)
                      for i in _shown(videos, max_videos)]
    data.notes += _missing_truth(videos, labels, set(data.class_ap))


def _missing_truth(videos, labels: Sequence[str], scored: set) -> List[str]:
    """What the per-class AP, PR curves and timelines leave out for want of ground truth, said rather
    than dropped: weakly labelled test videos (no segments) and classes without a true test segment."""
    notes = []
    unannotated = sum(1 for v in videos if not v.segments)
    if unannotated:
        notes.append(f"{unannotated} of the {len(videos)} test videos have no ground-truth segments: they count"
                     " towards no class's AP and get no timeline")
    missing = [c for c in labels if c not in scored]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        notes.append(f"{len(missing)} of the {len(labels)} classes have no ground-truth segment among the test videos,"
                     f" so no AP or PR curve: {shown}")
    return notes


def _image_sources(images) -> Dict[str, str]:
    """image_id -> source path, from every split of the ImageIngest Examples ``images`` (None: {})."""
    from laf import tfrecords
    from schemas.records import ImageRecord

    if images is None:
        return {}
    out = {}
    for raw in tfrecords.read(os.path.join(images.uri, "Split-*", "*.gz")):
        record = ImageRecord.parse(raw)
        out[record.image_id] = record.source
    return out


def _image_examples(rounds_uri: str, images, notes: List[str]) -> Dict[str, Dict[str, List[str]]]:
    """Per class, the local files of the kept and the dropped images, all of them: the page shows a
    few and says of how many."""
    path = files.join(rounds_uri, transfer_files.IMAGE_FILTER_FILE)
    if not files.exists(path):
        notes.append(f"no image-filter examples: {path} does not exist (domain transfer did not record which "
                     "images it kept)")
        return {}
    try:
        entries = [(e.get("image_id", ""), e["label"], bool(e["kept"]), e.get("source"))
                   for e in json.loads(files.read_text(path))["images"]]
    except (UserError, ValueError, KeyError, TypeError, AttributeError) as e:
        notes.append(f"no image-filter examples: {path} is not {{\"images\": [{{image_id, label, kept, source}}]}} "
                     f"({e!r})")
        return {}
    try:
        sources = {} if all(e[3] for e in entries) else _image_sources(images)
    except (OSError, UserError) as e:  # the ImageIngest examples deleted since the run
        notes.append(f"image-filter examples without their files: {e}")
        sources = {}
    out: Dict[str, Dict[str, List[str]]] = {}
    missing: Dict[str, int] = {}
    for image_id, label, kept, source in entries:
        source = source or sources.get(image_id, "")
        kind = out.setdefault(label, {"kept": [], "dropped": []})["kept" if kept else "dropped"]
        if not os.path.isfile(source):  # URLs or moved files cannot be shown offline
            missing[label] = missing.get(label, 0) + 1
        else:
            kind.append(source)
    if missing:  # per class: a class whose images are all URLs read "0 of 0 shown", as if it had none
        worst = sorted(missing, key=lambda c: (-missing[c], c))
        named = ", ".join(f"{c} {missing[c]}" for c in worst[:10]) + (" ..." if len(worst) > 10 else "")
        notes.append(f"{sum(missing.values())} filtered images have no local file (URL or moved) and are not shown"
                     f" nor counted in the per-class 'shown' figures: {named}")
    return out


def collect(pipeline_root: str, baselines: Optional[str] = None, max_videos: int = 4) -> ReportData:
    """Gather a finished local run's report data through ML Metadata.

    Assumptions (each missing piece becomes a note in the report, not an error): what :func:`sources`
    finds, i.e. the latest finished Evaluator's ``ModelEvaluation`` holds the run's TFMA metrics; its
    ``model`` input (else the latest finished Trainer's) is run again on the ``test`` split of its
    ``examples`` input to get per-class AP, PR curves and timelines, localizing with the evaluation's
    own LocalizationMAP settings; class names come from the model's own ``assets/labels.json``, else
    the examples' ``LabelVocabulary``; ``rounds.json`` and ``image_filter.json`` come from the
    ``DomainTransferRounds`` made with the model's training examples.
    """
    store = run_store.open_store(pipeline_root)  # first: a wrong root fails before TF loads
    from schemas.vocabulary import Vocabulary

    notes: List[str] = []
    data = ReportData(metrics={}, notes=notes, source=files.shown(pipeline_root))
    if baselines:
        data.metrics, data.metric_std, data.profiles = load_baselines(baselines)

    found = sources(store)
    evaluation, model, examples = found.evaluation, found.model, found.examples
    eval_config = None
    if evaluation is None:
        notes.append("no ModelEvaluation artifact: the Evaluator has not run")
    else:
        try:
            data.metrics[RUN_METHOD], eval_config = run_store.eval_metrics(evaluation.uri)
        except UserError as e:
            notes.append(f"no metrics of this run: {e}")
        else:
            data.protocol = str(_map_config(eval_config).get("protocol", "activitynet"))
    # the model's own labels first: a later run stopped midway may have ingested another vocabulary
    vocabulary = model and model_vocabulary(run_store.serving_dir(model.uri))
    ingested = None if vocabulary is not None or examples is None else run_store.beside(store, examples, "vocabulary")
    if model is None or examples is None or (vocabulary is None and ingested is None):
        notes.append("no per-class AP, PR curves or timelines: the run lacks a trained model (has the Trainer"
                     " finished?), VideoIngest examples or its vocabulary")
    else:
        try:
            labels = (vocabulary if vocabulary is not None else Vocabulary.load(ingested.uri)).labels
            _localization(data, model.uri, examples.uri, labels,
                          _localize_settings(eval_config, store, model, notes), max_videos, data.protocol)
        except UserError as e:
            notes.append(f"no per-class AP, PR curves or timelines: {e}")
    if evaluation is not None:
        notes.extend(_older_run(store, found.evaluators))

    rounds = found.rounds
    if rounds is None:
        notes.append("no DomainTransferRounds artifact: domain transfer has not run")
    elif not files.exists(files.join(rounds.uri, transfer_files.ROUNDS_FILE)):
        notes.append(f"{rounds.uri} holds no rounds.json")
    else:
        try:
            data.rounds = json.loads(files.read_text(files.join(rounds.uri, transfer_files.ROUNDS_FILE)))
        except json.JSONDecodeError as e:
            notes.append(f"{rounds.uri}/rounds.json is not valid JSON ({e.msg}): no domain-transfer rounds")
        except UserError as e:  # not UTF-8 text
            notes.append(f"no domain-transfer rounds: {e}")
        else:
            data.images = _image_examples(rounds.uri, found.images, notes)
    return data
