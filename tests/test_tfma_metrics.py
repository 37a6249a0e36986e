"""The TFMA metrics inside a real TFX Evaluator run (LocalDagRunner, SQLite MLMD, Importers for a
SequenceExample Examples artifact and hand-built SavedModels of the serving contract) agree with the
library on the same predictions, and the EvalConfig blesses only a model that clears the floor and
is not worse than the baseline."""
import glob
import json
import os
import types

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
from tfx import v1 as tfx

from laf.evaluate import evaluation as ev
from laf.evaluate import thumos14
from laf import tfrecords
from laf.evaluate.tfma_metrics import eval_config, map_metric_names
from pipeline.config import EvaluationConfig
from schemas import names
from schemas.parsing import video_sequence_spec
from schemas.records import Segment, VideoRecord
from schemas.segment import AMBIGUOUS
from schemas.vocabulary import Vocabulary

LABELS = ["Ball:Dunk", "Ball:Pass", "Ice:Check", "Ice:Shot", "Ice:Save"]
DIM = 6
# the product's window lengths and evidence runs (EvaluationConfig's), so TFMA runs its default localization
SETTINGS = dict(window=3, stride=1, nms_overlap=0.3, top_k_classes=2, tiou=[0.1, 0.3, 0.5],
                scales=list(EvaluationConfig().scales), run_thresholds=list(EvaluationConfig().run_thresholds))


def make_videos(rng, vocab, count=14):
    """Background frames plus segments that look like their class prototype (some noise); every other
    video has an Ambiguous first half (false positives there do not count)."""
    protos = rng.normal(size=(len(vocab), DIM))
    videos = []
    for i in range(count):
        label = i % len(vocab)
        frames = int(rng.integers(6, 30))
        feats = rng.normal(scale=0.8, size=(frames, DIM))
        segments = []
        for _ in range(0 if i == 3 else int(rng.integers(1, 3))):  # video 3: weakly labelled, not annotated
            start = int(rng.integers(0, frames - 2))
            end = min(frames, start + int(rng.integers(2, 8)))
            feats[start:end] += 2.0 * protos[label]
            segments.append(Segment(float(start), float(end), vocab.labels[label]))
        videos.append(VideoRecord(
            video_id=f"vid{i:02d}", label=vocab.labels[label], label_index=label, features=feats.astype(np.float32),
            timestamps=np.arange(frames, dtype=np.float32) + 0.5, fps=1.0, duration=float(frames), split="eval",
            segments=segments, segment_label_indices=[label] * len(segments),
            ambiguous=[Segment(0.0, frames / 2, AMBIGUOUS)] if i % 2 else []))
    return videos, protos


def save_model(path, weights, with_timestamps):
    """A tf.Module following the serving contract: probabilities zero past each video's length;
    optionally the extra ``timestamps`` output the metrics prefer over ``i / fps`` and an
    ``actionness`` output (how strongly a frame looks like any prototype), which fusion and windows
    then use."""
    w = tf.constant(weights, tf.float32)

    def probabilities(features, lengths):
        mask = tf.sequence_mask(lengths, tf.shape(features)[1], tf.float32)
        return tf.nn.softmax(tf.einsum("btd,dn->btn", features, w)) * mask[:, :, None]

    def actionness(features, lengths):
        mask = tf.sequence_mask(lengths, tf.shape(features)[1], tf.float32)
        return tf.sigmoid(tf.reduce_max(tf.einsum("btd,dn->btn", features, w), -1) - 3.0) * mask

    module = tf.Module()
    module.serve = tf.function(lambda examples: _from_examples(
        examples, probabilities, with_timestamps, actionness if with_timestamps else None),
                               input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    module.frames = tf.function(lambda frame_features, lengths: {
        "probabilities": probabilities(frame_features, lengths)},
        input_signature=[tf.TensorSpec([None, None, DIM], tf.float32), tf.TensorSpec([None], tf.int32)])
    tf.saved_model.save(module, os.path.join(path, "Format-Serving"),
                        signatures={"serving_default": module.serve, "frame_features": module.frames})


def _from_examples(examples, probabilities, with_timestamps, actionness=None):
    _, sequences, lengths = tf.io.parse_sequence_example(examples, sequence_features=video_sequence_spec(DIM))
    num_frames = tf.cast(lengths[names.FRAME_FEATURES], tf.int64)
    out = {"probabilities": probabilities(sequences[names.FRAME_FEATURES], num_frames), "num_frames": num_frames}
    if actionness is not None:
        out["actionness"] = actionness(sequences[names.FRAME_FEATURES], num_frames)
    if with_timestamps:
        out["timestamps"] = sequences[names.TIMESTAMP]  # zero-padded past num_frames
    return out


def library_metrics(model_dir, videos, vocab, with_timestamps, average_precision=ev.average_precision):
    """The same metrics from the same SavedModel's predictions, computed by the library (frame times:
    the records' timestamps if the model returns them, else ``i / fps`` as the metrics assume)."""
    serve = tf.saved_model.load(os.path.join(model_dir, "Format-Serving")).signatures["serving_default"]
    out = serve(examples=tf.constant([v.serialize() for v in videos]))
    probs, lengths = out["probabilities"].numpy(), out["num_frames"].numpy()
    actionness = [a[:n] for a, n in zip(out["actionness"].numpy(), lengths)] if "actionness" in out \
        else [None] * len(videos)
    scores = np.stack([ev.fuse(p[:n], a) for p, n, a in zip(probs, lengths, actionness)])
    labels = [v.label_index for v in videos]
    matrix = vocab.activity_matrix()
    config = ev.LocalizeConfig(window=SETTINGS["window"], nms_overlap=SETTINGS["nms_overlap"],
                               top_k_classes=SETTINGS["top_k_classes"], scales=tuple(SETTINGS["scales"]),
                               run_thresholds=tuple(SETTINGS["run_thresholds"]))
    every = [d for v, p, n, a in zip(videos, probs, lengths, actionness)
             for d in ev.localize(v.video_id, p[:n], v.timestamps if with_timestamps else np.arange(n) / v.fps,
                                  vocab.labels, config, float(v.duration), actionness=a)]
    gt, dets = ev.annotated_only({v.video_id: v.segments for v in videos}, every)
    ambiguous = {v.video_id: v.ambiguous for v in videos if v.ambiguous}
    result = average_precision(gt, dets, SETTINGS["tiou"], ambiguous)
    # Both rules must matter here, or the test could not tell an Evaluator that ignores one: Ambiguous
    # segments, and video 3's detections, which without segments are neither right nor wrong.
    assert not np.allclose(result.mAP, average_precision(gt, dets, SETTINGS["tiou"]).mAP)
    assert not np.allclose(result.mAP, average_precision({v.video_id: v.segments for v in videos}, every,
                                                         SETTINGS["tiou"], ambiguous).mAP)
    expected = {"hit@1": ev.hit_at_k(scores, labels, 1), "hit@5": ev.hit_at_k(scores, labels, 5),
                "activity_hit@1": ev.activity_hit_at_k(scores, labels, matrix, 1),
                "activity_hit@5": ev.activity_hit_at_k(scores, labels, matrix, 5)}
    expected.update(zip(map_metric_names("mAP", SETTINGS["tiou"]), [*result.mAP, result.average_mAP]))
    return expected


@pytest.fixture(scope="module")
def evaluator_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfma")
    vocab = Vocabulary.build(LABELS)
    rng = np.random.default_rng(0)
    videos, protos = make_videos(rng, vocab)
    examples_uri = str(root / "examples")
    tfrecords.write(os.path.join(tfrecords.split_dir(examples_uri, "eval"), "data.gz"),
                    [v.serialize() for v in videos])
    good, bad = str(root / "good"), str(root / "bad")
    save_model(good, protos.T, with_timestamps=True)
    save_model(bad, rng.normal(size=(DIM, len(vocab))), with_timestamps=False)

    def importer(uri, artifact_type, node_id, **kwargs):
        return tfx.dsl.Importer(source_uri=uri, artifact_type=artifact_type, **kwargs).with_id(node_id)

    examples = importer(examples_uri, tfx.types.standard_artifacts.Examples, "examples",
                        properties={"split_names": '["eval"]'},
                        custom_properties={"payload_format": "FORMAT_TF_SEQUENCE_EXAMPLE"})
    models = {n: importer(uri, tfx.types.standard_artifacts.Model, n) for n, uri in (("good", good), ("bad", bad))}
    # The good model against the bad baseline (floor 0.5, vocabulary given), then the other way round
    # (floor 0, activities learned from the data: refused for its regression alone), then the bad
    # model without a baseline (floor 0.5: refused by the floor alone).
    evaluators = [
        tfx.components.Evaluator(
            examples=examples.outputs["result"], model=models[cand].outputs["result"],
            baseline_model=models[base].outputs["result"] if base else None, example_splits=["eval"],
            eval_config=eval_config(types.SimpleNamespace(hit1_floor=floor, **SETTINGS), vocabulary),
        ).with_id(node_id)
        for node_id, cand, base, floor, vocabulary in (("Evaluator_good", "good", "bad", 0.5, vocab),
                                                       ("Evaluator_bad", "bad", "good", 0.0, None),
                                                       ("Evaluator_floor", "bad", None, 0.5, vocab))]
    # The THUMOS14 kit's mAP (evaluation.protocol), on its own.
    evaluators.append(tfx.components.Evaluator(
        examples=examples.outputs["result"], model=models["good"].outputs["result"], example_splits=["eval"],
        eval_config=eval_config(types.SimpleNamespace(hit1_floor=0.5, protocol="thumos14", **SETTINGS), vocab),
    ).with_id("Evaluator_thumos14"))
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="tfma_metrics_test", pipeline_root=str(root / "pipeline"),
        components=[examples, *models.values(), *evaluators], enable_cache=False,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(root / "metadata.sqlite")),
        beam_pipeline_args=["--direct_running_mode=in_memory", "--direct_num_workers=1"])
    tfx.orchestration.LocalDagRunner().run(pipeline)
    expected = {"good": library_metrics(good, videos, vocab, True), "bad": library_metrics(bad, videos, vocab, False),
                "thumos14": library_metrics(good, videos, vocab, True, thumos14.average_precision)}
    return root / "pipeline", expected


def only(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return found[0]


def loaded_metrics(pipeline_root, evaluator_id):
    """{(metric name, model name): value} from tfma.load_metrics of the Evaluator's output."""
    uri = only(str(pipeline_root / evaluator_id / "evaluation" / "*"))
    values = {}
    for per_slice in tfma.load_metrics(uri):
        assert not per_slice.slice_key.single_slice_keys  # the overall slice only
        for kv in per_slice.metric_keys_and_values:
            if not kv.key.is_diff:
                values[(kv.key.name, kv.key.model_name)] = kv.value.double_value.value
    return values


@pytest.mark.parametrize("candidate, baseline", [("good", "bad"), ("bad", "good")])
def test_evaluator_metrics_agree_with_library(evaluator_run, candidate, baseline):
    pipeline_root, expected = evaluator_run
    got = loaded_metrics(pipeline_root, f"Evaluator_{candidate}")
    for model_name, model in (("candidate", candidate), ("baseline", baseline)):
        for name, value in expected[model].items():
            assert got[(name, model_name)] == pytest.approx(value, abs=1e-9), (name, model_name)
    assert 0 < expected["good"]["mAP@0.1"] and expected["bad"]["hit@1"] < expected["good"]["hit@1"]


def test_evaluator_computes_the_thumos14_kit_s_map_when_asked(evaluator_run):
    pipeline_root, expected = evaluator_run
    got = loaded_metrics(pipeline_root, "Evaluator_thumos14")
    names = map_metric_names("mAP", SETTINGS["tiou"])
    assert [got[(n, "")] for n in names] == pytest.approx([expected["thumos14"][n] for n in names], abs=1e-9)
    assert [expected["thumos14"][n] for n in names] != pytest.approx([expected["good"][n] for n in names])


def test_blessing_needs_floor_and_no_regression(evaluator_run):
    """Each rule refuses a model alone: the regression at floor 0, the floor without a baseline."""
    pipeline_root, expected = evaluator_run
    assert expected["good"]["hit@1"] >= 0.5 > expected["bad"]["hit@1"]
    blessed = {node: os.listdir(only(str(pipeline_root / node / "blessing" / "*")))
               for node in ("Evaluator_good", "Evaluator_bad", "Evaluator_floor", "Evaluator_thumos14")}
    assert blessed == {"Evaluator_good": ["BLESSED"], "Evaluator_bad": ["NOT_BLESSED"],
                       "Evaluator_floor": ["NOT_BLESSED"], "Evaluator_thumos14": ["BLESSED"]}


def test_map_does_not_depend_on_the_order_beam_merges_videos():
    """Equal scores rank by video id, not by the accumulators' merge order: a true positive in one
    video and a false positive in another, both scored 0.9, give one mAP whichever comes first."""
    from laf.evaluate import tfma_metrics

    [computation] = tfma_metrics._map_computations("mAP", [0.5], window=1, stride=1, nms_overlap=0.5,
                                                    top_k_classes=None)

    def video(video_id, start):
        return tfma_metrics._Video(video_id, 0, "A", np.ones(1), ev.Segments(
            np.array([start]), np.array([start + 2.0]), np.array([0]), np.array([0.9])), np.array([[0.0, 2.0, 0]]),
            np.zeros((0, 2)))

    hit, miss = video("a", 0.0), video("b", 5.0)
    compute = computation.combiner._compute
    assert compute([hit, miss]) == compute([miss, hit]) == [0.5, 0.5]  # "a" first: the true positive ranks first


def test_map_scores_only_the_videos_with_segments():
    """A weakly labelled video (no segments) is unannotated, not background: its own action's
    detection, scored above the annotated video's true positive, halved the AP as a false positive."""
    from laf.evaluate import tfma_metrics

    [computation] = tfma_metrics._map_computations("mAP", [0.5], window=1, stride=1, nms_overlap=0.5,
                                                    top_k_classes=None)
    hit = tfma_metrics._Video("a", 0, "A", np.ones(1), ev.Segments(
        np.array([0.0]), np.array([2.0]), np.array([0]), np.array([0.9])), np.array([[0.0, 2.0, 0]]), np.zeros((0, 2)))
    unannotated = tfma_metrics._Video("u", 0, "A", np.ones(1), ev.Segments(
        np.array([3.0]), np.array([5.0]), np.array([0]), np.array([0.95])), np.zeros((0, 3)), np.zeros((0, 2)))
    assert computation.combiner._compute([hit, unannotated]) == [1.0, 1.0]


def test_eval_config_carries_every_localization_setting_to_the_metric_and_the_report():
    """The Evaluator's mAP localizes as the product does (window lengths and evidence runs), and the
    report reads the same settings back from the EvalConfig."""
    from laf.evaluate import tfma_metrics
    from laf.report.collect import _localize_settings

    settings = types.SimpleNamespace(**{**SETTINGS, "scales": [0.5, 1.0, 2.0], "run_thresholds": [0.2, 0.6]})
    config = eval_config(settings, Vocabulary.build(LABELS))
    want = ev.LocalizeConfig(window=3, scales=(0.5, 1.0, 2.0), run_thresholds=(0.2, 0.6), stride=1, nms_overlap=0.3,
                             top_k_classes=2)
    assert _localize_settings(config, None, None, []) == want
    [spec] = [m for m in config.metrics_specs[0].metrics if m.class_name == "LocalizationMAP"]
    [computation] = tfma_metrics._map_computations("mAP", **{k: v for k, v in json.loads(spec.config).items()
                                                              if k != "name"})
    assert computation.combiner._localize == want  # what the Evaluator's mAP localizes with


def test_the_evaluator_scores_by_the_configured_protocol():
    """``evaluation.protocol: thumos14``: the Evaluator's mAP is the THUMOS14 kit's. One segment [0, 10]
    with detections [0, 8] (score 0.9) and [0, 10] (0.8): the kit's segment takes the exact one, so the
    better-scored one is a false positive ranked first (AP 0.5); ActivityNet matches in score order (1.0)."""
    from laf.evaluate import tfma_metrics

    detections = ev.Segments(np.array([0.0, 0.0]), np.array([8.0, 10.0]), np.array([0, 0]), np.array([0.9, 0.8]))
    video = tfma_metrics._Video("v", 0, "A", np.ones(1), detections, np.array([[0.0, 10.0, 0]]), np.zeros((0, 2)))
    found = {}
    for protocol in ("activitynet", "thumos14"):
        [spec] = [m for m in eval_config(types.SimpleNamespace(**SETTINGS, protocol=protocol)).metrics_specs[0].metrics
                  if m.class_name == "LocalizationMAP"]
        config = {k: v for k, v in json.loads(spec.config).items() if k != "name"}
        [computation] = tfma_metrics._map_computations("mAP", **config)
        found[protocol] = computation.combiner._compute([video])
    assert found == {"activitynet": [1.0] * 4, "thumos14": [0.5] * 4}  # mAP at 0.1, 0.3, 0.5 and their average
