"""Localize actions in new videos with a pushed model (``laf localize``).

A video is decoded and featurized by the very DoFn ingestion runs (``ExtractVideoFeatures``:
same sampler, options, backbone batching and validation), so the model sees the features it was
trained on. That only holds with the backbone the model was trained with: a pushed model carries
it in its assets (``laf.serve.assets``); else it comes from the pipeline run (the VideoIngest
execution's properties in ML Metadata: :func:`settings_from_pipeline`) or from the user
(explicit backbone/weights/size/fps).
The records go to the model's ``localize`` signature (segments computed in the graph) and its
``serving_default`` signature (per-frame probabilities, for the plot).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from laf import files
from laf.errors import NOT_FINITE, UserError, first_line
from laf.ingest.backbones import BackboneConfig, build_errors
from laf.report.page import literal_text
from schemas import names
from schemas.segment import Detection
from schemas.vocabulary import Vocabulary

SIGNATURES = ("serving_default", "localize")
VOCABULARY_OUTPUT = "vocabulary"
# Records built here carry no label: ingestion needs one from a vocabulary, so every video gets
# this placeholder (the serving signatures read only the frame features and timestamps).
UNLABELLED = "unlabelled"


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    """How a model's training videos were featurized; ``vocabulary`` when the run knows it."""

    backbone: BackboneConfig
    fps: float
    vocabulary: Optional[Vocabulary] = None


@dataclasses.dataclass
class VideoResult:
    """One video's detections (best first) and the per-frame probabilities ``[T, N]``."""

    video_id: str
    path: str
    duration: float
    detections: List[Detection]
    probabilities: np.ndarray
    timestamps: np.ndarray
    actionness: Optional[np.ndarray] = None  # [T], for models with an actionness head


# --- settings and model ------------------------------------------------------------------------

def settings_from_features(features: Mapping[str, Any],
                           vocabulary: Optional[Vocabulary] = None) -> IngestSettings:
    """Settings from the pipeline config's ``features`` section, which is also VideoIngest's
    properties (backbone, weights, layer, input_size, fps)."""
    return IngestSettings(BackboneConfig.from_properties(features), float(features["fps"]), vocabulary)


def settings_from_pipeline(pipeline_root: str) -> IngestSettings:
    """Backbone, fps and vocabulary of the latest successful VideoIngest execution of a local run."""
    from laf import run_store

    props, outputs = run_store.latest_execution(run_store.open_store(pipeline_root), run_store.VIDEO_INGEST)
    # The vocabulary is VideoIngest's output channel "vocabulary" (keyed by channel, not type name).
    vocabulary = outputs.get(VOCABULARY_OUTPUT)
    return settings_from_features(props, Vocabulary.load(vocabulary[0].uri) if vocabulary else None)


LOCALIZE_OUTPUTS = ("probabilities", "timestamps", "num_frames", "start", "end", "label", "score", "count")  # what results read


def load_model(model_dir: str):
    """The SavedModel, checked for the signatures this command calls."""
    import tensorflow as tf

    if not files.isdir(model_dir):
        raise UserError(f"model directory not found: {model_dir}")
    try:
        model = tf.saved_model.load(model_dir)
    except (OSError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"{model_dir} is not a readable SavedModel: {str(e).splitlines()[0]}") from None
    missing = [name for name in SIGNATURES if name not in model.signatures]
    if missing:
        raise UserError(f"{model_dir} lacks the signature(s) {missing} (has {sorted(model.signatures)});"
                        " export it with trainer.serving.export")
    check_localize_outputs(model.signatures["localize"].structured_outputs, model_dir)
    return model


def check_localize_outputs(outputs: Iterable[str], source: str) -> None:
    """Refuse a ``localize`` signature (a loaded model's, or a model server's answer) that lacks an
    output this version reads: exports of 2026-11-27 answered segments alone."""
    lacking = sorted(set(LOCALIZE_OUTPUTS) - set(outputs))
    if lacking:
        raise UserError(f"{source}: its localize signature lacks the output(s) {lacking} of this version;"
                        " rebuild it with laf.serve.upgrade.add_step_signature (README: Serving)")


def model_classes(model) -> Optional[int]:
    """How many classes the ``localize`` signature of a loaded model names (None if not static)."""
    n = model.signatures["localize"].structured_outputs["probabilities"].shape[-1]
    return None if n is None else int(n)


def model_vocabulary(model_dir: str) -> Optional[Vocabulary]:
    """``assets/labels.json`` inside the model, when the trainer knew the vocabulary."""
    path = files.join(model_dir, "assets", "labels.json")
    return Vocabulary.load(path) if files.exists(path) else None


def class_names(vocabulary: Optional[Vocabulary], num_classes: int) -> List[str]:
    """The vocabulary's labels, or ``class_<i>`` when no vocabulary is known."""
    if vocabulary is None:
        return [f"class_{i}" for i in range(num_classes)]
    if len(vocabulary) != num_classes:
        raise UserError(f"the vocabulary has {len(vocabulary)} labels but the model outputs {num_classes} classes")
    return list(vocabulary.labels)


# --- videos --------------------------------------------------------------------------------------

def video_ids(paths: Sequence[str]) -> List[str]:
    """File names without extension; where names repeat, as many parent folders as tell the videos
    apart, and the extension where only it does (``a.mp4`` and ``a.mkv``). One id per video: the
    result JSON and the plots are keyed by it."""
    full = [os.path.abspath(p) for p in paths]
    repeated = sorted({p for p in full if full.count(p) > 1})
    if repeated:
        raise UserError(f"video given more than once: {repeated[0]}")

    def name(path: str, parents: int, extension: bool) -> str:
        parts = [part for part in path.split(os.sep) if part]  # no empty root part: an id never starts with "/"
        stem, suffix = os.path.splitext(parts[-1])
        return "/".join(parts[max(0, len(parts) - 1 - parents):-1] + [stem + (suffix if extension else "")])

    ids: List[Optional[str]] = [None] * len(full)
    for parents in range(max(len(p.split(os.sep)) for p in full) if full else 0):
        for extension in (False, True):
            names = [name(p, parents, extension) for p in full]
            for i, candidate in enumerate(names):  # unique among these names and the ids given out
                if ids[i] is None and names.count(candidate) == 1 and candidate not in ids:
                    ids[i] = candidate
    return ids  # the paths are unique, so by the full path at the latest every video has its name


def _problem(path: str, settings: IngestSettings) -> Optional[str]:
    """Why a video cannot be used, found by opening and indexing it (demuxing only, before any
    backbone is built); None when it opens."""
    from laf.ingest.media import MediaError, Video
    from laf.ingest.video_ingest import VideoOptions

    if not os.path.isfile(path):
        return f"{'a folder, not a video' if os.path.isdir(path) else 'video not found'}: {path}"
    try:
        Video(path, fps=settings.fps, size=settings.backbone.size, max_duration=VideoOptions.max_duration)
    except MediaError as e:
        return f"cannot use video {path}: {e.stage}: {e.reason}"
    return None


def featurize(paths: Sequence[str], settings: IngestSettings, batch_size: int = 32,
              skip: Optional[Callable[[str], None]] = None) -> List[Optional[bytes]]:
    """Every video's record at once (:func:`featurize_each`)."""
    return list(featurize_each(paths, settings, batch_size, skip))


def featurize_each(paths: Sequence[str], settings: IngestSettings, batch_size: int = 32,
                   skip: Optional[Callable[[str], None]] = None) -> Iterator[Optional[bytes]]:
    """Serialized contract SequenceExamples of the videos, made by ingestion's own DoFn, one video at
    a time as the iterator is read (a caller that localizes each before the next holds one video's
    features, not all). A video that ingestion would reject (missing, undecodable, too short) is a
    ``UserError``; with ``skip``, its message goes to ``skip`` instead and its place holds None, so
    one bad file among many does not cost the others. Every video is opened here, before the slow
    part, so the messages of videos that cannot be opened come first; a rejection at decoding (too
    short, NaN features) comes when the video's turn does."""
    from laf.ingest import manifest as mf
    from laf.ingest import rejects, video_ingest

    def refuse(message: str) -> None:
        if skip is None:
            raise UserError(message)
        skip(message)

    ids = video_ids(paths)  # refuses a video given twice
    problems = [_problem(path, settings) for path in paths]
    for message in filter(None, problems):
        refuse(message)
    options = video_ingest.VideoOptions(fps=settings.fps, batch_size=batch_size)
    dofn = video_ingest.ExtractVideoFeatures(settings.backbone, Vocabulary.build([UNLABELLED]), options)
    if any(p is None for p in problems):
        with build_errors(settings.backbone):  # a layer it lacks, an unreadable weights file: one line
            dofn.setup()

    def each() -> Iterator[Optional[bytes]]:
        for video_id, path, problem in zip(ids, paths, problems):
            row = mf.VideoRow(video_id=video_id, uri=path, label=UNLABELLED, split=names.SPLITS[-1])
            out = None if problem else dofn.extract(row)
            if isinstance(out, rejects.Rejected):
                refuse(f"cannot use video {path}: {out.stage}: {out.reason}")
                out = None
            yield None if out is None else out.serialize()

    return each()


def localize_outputs(model, examples: Sequence[bytes]) -> Dict[str, np.ndarray]:
    """The loaded model's ``localize`` signature on the records: segments and per-frame outputs."""
    import tensorflow as tf

    from schemas.records import VideoRecord

    try:
        return {k: v.numpy() for k, v in model.signatures["localize"](examples=tf.constant(list(examples))).items()}
    except tf.errors.InvalidArgumentError as e:  # e.g. another feature dimension than the model's
        if NOT_FINITE in e.message:
            raise UserError(NOT_FINITE) from None
        dim = VideoRecord.parse(examples[0]).features.shape[1]
        raise UserError(f"the model rejects these {dim}-d features (was it trained with another backbone?):"
                        f" {first_line(e.message)}") from None
    except tf.errors.ResourceExhaustedError as e:  # one very long video: the others may still fit
        raise UserError(f"out of memory running the model on {len(examples)} video(s) of"
                        f" {max(VideoRecord.parse(x).num_frames for x in examples)} frames at most:"
                        f" {first_line(e.message)}") from None


def results_from_outputs(found: Mapping[str, np.ndarray], examples: Sequence[bytes], ids: Sequence[str],
                         paths: Sequence[str], vocabulary: Optional[Vocabulary] = None) -> List[VideoResult]:
    """Per-video results from the ``localize`` signature's outputs, however they were obtained
    (a local SavedModel, or TF Serving's REST answer: ``laf.serve.rest``)."""
    from schemas.records import VideoRecord

    labels = class_names(vocabulary, found["probabilities"].shape[-1])
    results = []
    for i, (video_id, path) in enumerate(zip(ids, paths)):
        n, count = int(found["num_frames"][i]), int(found["count"][i])
        detections = [Detection(video_id, float(found["start"][i, j]), float(found["end"][i, j]),
                                labels[int(found["label"][i, j])], float(found["score"][i, j]))
                      for j in range(count)]
        record = VideoRecord.parse(examples[i])
        actionness = found["actionness"][i, :n] if "actionness" in found else None
        results.append(VideoResult(video_id, path, record.duration, detections,
                                   found["probabilities"][i, :n], found["timestamps"][i, :n], actionness))
    return results


def localize_examples(model, examples: Sequence[bytes], ids: Sequence[str], paths: Sequence[str],
                      vocabulary: Optional[Vocabulary] = None) -> List[VideoResult]:
    """Call the model's ``localize`` signature (segments and per-frame probabilities) on the records."""
    return results_from_outputs(localize_outputs(model, examples), examples, ids, paths, vocabulary)


# --- output --------------------------------------------------------------------------------------

def format_table(results: Iterable[VideoResult], top: Optional[int] = None) -> str:
    """The timeline: one row per detection (video, label, start, end, score), in time order per
    video; ``top`` keeps each video's best ``top`` detections."""
    rows = []
    for r in results:
        best = r.detections[:top] if top else r.detections
        rows += [(d.video_id, d.label, d.start, d.end, d.score) for d in sorted(best, key=lambda d: d.start)]
    vw = max([len("video")] + [len(r[0]) for r in rows])
    lw = max([len("label")] + [len(r[1]) for r in rows])
    lines = [f"{'video':<{vw}}  {'label':<{lw}}  {'start':>8}  {'end':>8}  {'score':>6}"]
    lines += [f"{v:<{vw}}  {l:<{lw}}  {s:8.2f}  {e:8.2f}  {p:6.4f}" for v, l, s, e, p in rows]
    return "\n".join(lines)


@literal_text  # a `$` in a video's name was read as TeX math, and the command failed after localizing
def plot_timeline(result: VideoResult, labels: Sequence[str], path: str, top: int = 8) -> str:
    """A PNG: the per-frame top-class evidence (probability x actionness, coloured by that class)
    above the best ``top`` detected segments."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    detections = result.detections[:top]
    from laf.evaluate.evaluation import class_evidence

    evidence = class_evidence(result.probabilities, result.actionness)
    shown = sorted({d.label for d in detections} | {labels[int(c)] for c in set(evidence.argmax(1))})
    named = labels if len(labels) <= 20 else shown  # one colour per class in every plot; past 20, the plot's own
    cmap = matplotlib.colormaps["tab20" if len(named) > 10 else "tab10"]
    color = {label: cmap(named.index(label) % cmap.N) for label in shown}
    fig = Figure(figsize=(10, 3.2))
    ax_p, ax_s = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1.3, 1]})
    top_class = evidence.argmax(axis=1)
    ax_p.plot(result.timestamps, evidence.max(axis=1), color="0.4", lw=1)
    ax_p.scatter(result.timestamps, evidence.max(axis=1), s=8,
                 c=[color[labels[int(c)]] for c in top_class], zorder=3)
    ax_p.set_ylim(0, 1.02)
    ax_p.set_ylabel("top-class evidence", fontsize=8)
    ax_p.set_title(f"{result.video_id}: top-class evidence per frame and the best {len(detections)} segments",
                   fontsize=9)
    for row, d in enumerate(detections):
        ax_s.barh(row, d.end - d.start, left=d.start, color=color[d.label], edgecolor="black", height=0.7)
        ax_s.text(d.end, row, f" {d.score:.2f}", va="center", fontsize=7)
    ax_s.set_yticks([])
    ax_s.set_ylim(len(detections) - 0.4, -0.6)
    ax_s.set_xlim(0, max([result.duration, 1.0] + [d.end for d in detections]))
    ax_s.set_xlabel("time (s)")
    handles = [Rectangle((0, 0), 1, 1, color=color[c]) for c in shown]
    ax_p.legend(handles, shown, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png", dpi=100, bbox_inches="tight")
    return path
