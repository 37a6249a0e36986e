"""The paper's metrics as TFMA custom metrics (Beam combiners over ``laf.evaluate.evaluation``), and the
``tfma.EvalConfig`` the pipeline's Evaluator runs with.

Per video the combiners read the serving signature's ``probabilities`` (padded to the batch's
longest video, so sliced to ``num_frames``) and, when the model has it, ``actionness`` (video fusion
and window scores then use it, as ``laf.evaluate.evaluation.fuse`` and ``class_evidence`` do), and the
SequenceExample *context* features (TFMA drops feature lists): label index, activity,
``num_frames``, ``fps``, the ground-truth segments and the Ambiguous ones (false positives on them
are ignored, THUMOS14's rule, as ``laf evaluate`` and the benchmarks do). Frame timestamps come
from an optional ``timestamps`` signature output (every model this pipeline exports has it); without
it they are ``i / fps``, exact only where ingestion's sample times are uniform (damaged packets and
variable frame rates keep each frame's own time). Localization AP counts the videos with segments
only (``laf.evaluate.evaluation.annotated_only``).

Activity-level Hit@k needs each action's activity: pass ``activities`` (activity index per label
index); by default it is learned from the eval videos' ``label_index``/``activity`` context, so an
action that never occurs in the eval split is left out of its activity's average.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Dict, Iterable, List, Optional, Sequence

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types

from laf.evaluate import evaluation as ev
from laf.evaluate import thumos14
from schemas import names
from schemas.segment import AMBIGUOUS, Detection, Segment
from schemas.vocabulary import Vocabulary

MODULE = __name__
PROBABILITIES = "probabilities"
ACTIONNESS = "actionness"
TIMESTAMPS = "timestamps"
_FEATURES = (names.VIDEO_ID, names.LABEL_INDEX, names.ACTIVITY, names.NUM_FRAMES, names.FPS, names.DURATION,
             names.GT_START, names.GT_END, names.GT_LABEL_INDEX, names.AMBIGUOUS_START, names.AMBIGUOUS_END)


@dataclasses.dataclass
class _Video:
    """What one metric keeps of one video."""

    video_id: str
    label: int
    activity: str
    scores: np.ndarray          # [N] the product's fusion (``ev.fuse``: actionness fusion with an actionness head)
    detections: ev.Segments     # windows and evidence runs + NMS (empty when not localizing)
    gt: np.ndarray              # [G, 3] start, end, label index
    ambiguous: np.ndarray       # [A, 2] start, end of the Ambiguous segments


def _values(features: Dict[str, Any], key: str) -> np.ndarray:
    value = features.get(key)
    return np.zeros(0) if value is None else np.asarray(value).reshape(-1)


def _text(value: np.ndarray) -> str:
    item = value[0] if value.size else b""
    return item.decode("utf-8") if isinstance(item, bytes) else str(item)


def _video(element: metric_types.StandardMetricInputs, model_name: str,
           localize: Optional[ev.LocalizeConfig]) -> _Video:
    predictions = element.get_predictions(model_name)
    features = element.features
    num_frames = int(_values(features, names.NUM_FRAMES)[0])
    probabilities = np.asarray(predictions[PROBABILITIES] if isinstance(predictions, dict) else predictions)
    probabilities = probabilities.reshape(-1, probabilities.shape[-1])[:num_frames]
    actionness = None
    if isinstance(predictions, dict) and ACTIONNESS in predictions:  # fusion and windows use it (evaluation)
        actionness = np.asarray(predictions[ACTIONNESS]).reshape(-1)[:num_frames]
    detections = ev.Segments(np.zeros(0), np.zeros(0), np.zeros(0, np.int64), np.zeros(0))
    if localize is not None:
        if isinstance(predictions, dict) and TIMESTAMPS in predictions:
            stamps = np.asarray(predictions[TIMESTAMPS]).reshape(-1)[:num_frames]
        else:
            stamps = np.arange(num_frames) / float(_values(features, names.FPS)[0])
        duration = _values(features, names.DURATION)
        detections = ev.detect_evidence(probabilities, stamps, localize, float(duration[0]) if duration.size else None,
                                        actionness=actionness)
    gt = np.stack([_values(features, names.GT_START), _values(features, names.GT_END),
                   _values(features, names.GT_LABEL_INDEX)], axis=1).astype(np.float64)
    ambiguous = np.stack([_values(features, names.AMBIGUOUS_START), _values(features, names.AMBIGUOUS_END)],
                         axis=1).astype(np.float64)
    return _Video(_text(_values(features, names.VIDEO_ID)), int(_values(features, names.LABEL_INDEX)[0]),
                  _text(_values(features, names.ACTIVITY)), ev.fuse(probabilities, actionness), detections, gt,
                  ambiguous)


class _VideosCombiner(beam.CombineFn):
    """Collects per-video results (the heavy part, localization, runs in ``add_input``); the
    metric itself is computed once over all videos of a slice in ``extract_output``."""

    def __init__(self, keys: List[metric_types.MetricKey], compute, localize: Optional[ev.LocalizeConfig]):
        self._keys = keys
        self._compute = compute
        self._localize = localize

    def create_accumulator(self) -> List[_Video]:
        return []

    def add_input(self, accumulator: List[_Video], element) -> List[_Video]:
        accumulator.append(_video(element, self._keys[0].model_name, self._localize))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[List[_Video]]) -> List[_Video]:
        return [video for acc in accumulators for video in acc]

    def extract_output(self, accumulator: List[_Video]) -> Dict[metric_types.MetricKey, float]:
        return dict(zip(self._keys, self._compute(accumulator)))


def _preprocessor() -> metric_types.StandardMetricInputsPreprocessor:
    return metric_types.StandardMetricInputsPreprocessor(
        include_filter={tfma.FEATURES_KEY: {k: {} for k in _FEATURES}}, name="laf_video_inputs")


def _computations(metric_names: List[str], compute, localize: Optional[ev.LocalizeConfig],
                  model_names: Optional[List[str]]) -> metric_types.MetricComputations:
    computations = []
    for model_name in model_names or [""]:
        keys = [metric_types.MetricKey(name=n, model_name=model_name) for n in metric_names]
        computations.append(metric_types.MetricComputation(
            keys=keys, preprocessors=[_preprocessor()], combiner=_VideosCombiner(keys, compute, localize)))
    return computations


# --- Hit@k ---------------------------------------------------------------------------------------------

def _activity_matrix(videos: List[_Video], n_labels: int, activities: Optional[List[int]]) -> np.ndarray:
    if activities is None:  # learned from the eval videos' context
        seen = {v.label: v.activity for v in videos}
        order = sorted(set(seen.values()))
        activities = [order.index(seen[i]) if i in seen else -1 for i in range(n_labels)]
    matrix = np.zeros((n_labels, max(activities) + 1))
    for label, activity in enumerate(activities):
        if activity >= 0:
            matrix[label, activity] = 1.0
    return matrix


def _hit_computations(name: str, k: int, activity: bool, activities: Optional[List[int]],
                      model_names: Optional[List[str]] = None) -> metric_types.MetricComputations:
    def compute(videos: List[_Video]) -> List[float]:
        if not videos:
            return [float("nan")]
        scores = np.stack([v.scores for v in videos])
        labels = [v.label for v in videos]
        if activity:
            return [ev.activity_hit_at_k(scores, labels, _activity_matrix(videos, scores.shape[1], activities), k)]
        return [ev.hit_at_k(scores, labels, k)]

    return _computations([name], compute, None, model_names)


class HitAtK(metric_types.Metric):
    """Video-level Hit@k (the product's fusion, ``ev.fuse``), or activity-level with ``activity=True`` (paper §4.3)."""

    def __init__(self, k: int = 1, activity: bool = False, activities: Optional[List[int]] = None,
                 name: Optional[str] = None):
        super().__init__(_hit_computations, k=k, activity=activity, activities=activities,
                         name=name or f"{'activity_' if activity else ''}hit@{k}")


# --- localization mAP ----------------------------------------------------------------------------------

def map_metric_names(name: str, tious: Sequence[float]) -> List[str]:
    """Keys of :class:`LocalizationMAP`: ``mAP@0.1`` ... and ``average_mAP``."""
    return [f"{name}@{ev.tiou_key(t)}" for t in tious] + [f"average_{name}"]


def _map_computations(name: str, tious: List[float], window: int, stride: int, nms_overlap: float,
                      top_k_classes: Optional[int], scales: Sequence[float] = (1.0,),
                      run_thresholds: Sequence[float] = (), protocol: str = "activitynet",
                      model_names: Optional[List[str]] = None):
    localize = ev.LocalizeConfig(window=window, scales=tuple(scales), run_thresholds=tuple(run_thresholds),
                                 stride=stride, nms_overlap=nms_overlap, top_k_classes=top_k_classes)
    average_precision = thumos14.by_protocol(protocol)

    def compute(videos: List[_Video]) -> List[float]:
        gt = {v.video_id: [Segment(float(s), float(e), str(int(c))) for s, e, c in v.gt] for v in videos}
        gt, detections = ev.annotated_only(gt, [Detection(v.video_id, s, e, str(int(c)), score) for v in videos
                                                for s, e, c, score in zip(*v.detections)])
        ambiguous = {v.video_id: [Segment(float(s), float(e), AMBIGUOUS) for s, e in v.ambiguous]
                     for v in videos if len(v.ambiguous)}
        result = average_precision(gt, detections, tious, ambiguous)
        return [float(x) for x in result.mAP] + [result.average_mAP]

    return _computations(map_metric_names(name, tious), compute, localize, model_names)


class LocalizationMAP(metric_types.Metric):
    """Temporal-localization mAP at each tIoU and their average, by the ActivityNet computation or
    (``protocol="thumos14"``) the THUMOS14 kit's."""

    def __init__(self, tious: Sequence[float] = ev.PAPER_TIOUS, window: int = 10, stride: int = 1,
                 nms_overlap: float = 0.0, top_k_classes: Optional[int] = None, name: str = "mAP",
                 scales: Sequence[float] = (1.0,), run_thresholds: Sequence[float] = (),
                 protocol: str = "activitynet"):
        super().__init__(_map_computations, tious=list(tious), window=window, stride=stride,
                         nms_overlap=nms_overlap, top_k_classes=top_k_classes, scales=list(scales),
                         run_thresholds=list(run_thresholds), protocol=protocol, name=name)


# --- EvalConfig -----------------------------------------------------------------------------------------

def activity_indices(vocabulary: Vocabulary) -> List[int]:
    """Activity index per label, in the vocabulary's order of activities (a taxonomy's or the
    ``Activity:`` part of the labels)."""
    return [vocabulary.activity_names.index(vocabulary.activity_of(label)) for label in vocabulary.labels]


def _metric(cls, threshold: Optional[tfma.MetricThreshold] = None, **config) -> tfma.MetricConfig:
    return tfma.MetricConfig(class_name=cls.__name__, module=MODULE, config=json.dumps(config), threshold=threshold)


def eval_config(settings: Any = None, vocabulary: Optional[Vocabulary] = None) -> tfma.EvalConfig:
    """The Evaluator's config: Hit@1/5, activity Hit@1/5, mAP at ``settings.tiou``; a model is blessed
    only if Hit@1 >= ``settings.hit1_floor`` and not below the last blessed model's Hit@1 (where the
    pipeline has a baseline: a Kubeflow spec has none).

    ``settings`` has the fields of ``pipeline.config.EvaluationConfig``; one it lacks (or None) takes the
    paper's value: one window length, no evidence runs, tIoU 0.1-0.5.
    """
    get = lambda field, default: getattr(settings, field, default)  # noqa: E731
    activities = activity_indices(vocabulary) if vocabulary is not None else None
    blessing = tfma.MetricThreshold(
        value_threshold=tfma.GenericValueThreshold(lower_bound={"value": float(get("hit1_floor", 0.0))}),
        change_threshold=tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                                     absolute={"value": -1e-10}))
    metrics = [
        _metric(HitAtK, blessing, k=1),
        _metric(HitAtK, k=5),
        _metric(HitAtK, k=1, activity=True, activities=activities),
        _metric(HitAtK, k=5, activity=True, activities=activities),
        _metric(LocalizationMAP, tious=[float(t) for t in get("tiou", ev.PAPER_TIOUS)],
                window=int(get("window", 10)), scales=[float(x) for x in get("scales", (1.0,))],
                run_thresholds=[float(x) for x in get("run_thresholds", ())],
                stride=int(get("stride", 1)),
                nms_overlap=float(get("nms_overlap", 0.0)), top_k_classes=get("top_k_classes", None),
                protocol=str(get("protocol", "activitynet"))),
    ]
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(signature_name="serving_default", model_type="tf_generic")],
        slicing_specs=[tfma.SlicingSpec()],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)])
