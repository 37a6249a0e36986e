"""Model selection by eval-split Hit@1 under the product's fusion (trainer.selection)."""
import numpy as np

from laf.evaluate import batches
from trainer import model as model_lib
from trainer import selection


def test_hit_at_1_uses_the_fusion_and_selection_adds_frame_accuracy():
    """A CNN whose actionness head is forced to fire only on the action frame: actionness fusion
    names the action's class, which average fusion over mostly-context frames would miss."""
    net = model_lib.build("cnn", 2, cnn_hidden=[], actionness=True)
    net(np.zeros((1, 1, 2), np.float32))
    net.head.set_weights([np.array([[4.0, -4.0], [-4.0, 4.0]], np.float32), np.zeros(2, np.float32)])
    net.actionness_head.set_weights([np.array([[0.0], [10.0]], np.float32), np.array([-5.0], np.float32)])
    context, action = [1.0, 0.0], [0.0, 1.0]  # context leans to class 0; the action is class 1
    video = {"features": np.array([context] * 9 + [action], np.float32), "label": 1}
    assert selection.video_hit_at_1(model_lib.traced_outputs(net), [video]) == 1.0
    plain = model_lib.build("cnn", 2, cnn_hidden=[], actionness=False)
    plain(np.zeros((1, 1, 2), np.float32))
    plain.head.set_weights(net.head.get_weights())
    assert selection.video_hit_at_1(model_lib.traced_outputs(plain), [video]) == 0.0  # average fusion: context wins

    callback = selection.EvalVideoMetrics(net, [video])
    logs = {"val_accuracy": 0.25, "val_loss": 3.0}
    callback.on_epoch_end(0, logs)
    assert logs["val_hit@1"] == 1.0 and logs[selection.MONITOR] == 1.25


def _kept_weight(selection_values, tolerance: float) -> float:
    """Run RestoreBest over epochs whose only weight is the epoch number; the weight it leaves."""
    net = model_lib.build("cnn", 1, cnn_hidden=[], actionness=False)
    net(np.zeros((1, 1, 1), np.float32))
    callback = selection.RestoreBest(patience=10, tolerance=tolerance)
    callback.set_model(net)
    callback.on_train_begin()
    for epoch, value in enumerate(selection_values):
        net.head.set_weights([np.full((1, 1), float(epoch), np.float32), np.zeros(1, np.float32)])
        callback.on_epoch_end(epoch, {selection.MONITOR: value})
    callback.on_train_end()
    assert callback.kept_epoch == float(net.head.get_weights()[0][0, 0])
    return float(net.head.get_weights()[0][0, 0])


def test_restore_best_keeps_the_last_epoch_unless_an_earlier_one_was_clearly_better():
    """An earlier epoch that beat the last one by less than one eval video is luck: the last
    (annealed) weights stay; one that beat it by more is restored, as plain early stopping would."""
    assert selection.tolerance([{}] * 24) == 1 / 24
    assert _kept_weight([1.0, 1.5, 1.45], tolerance=0.1) == 2.0
    assert _kept_weight([1.0, 1.5, 1.3], tolerance=0.1) == 1.0
    assert _kept_weight([1.0, 1.2, 1.5], tolerance=0.1) == 2.0  # the last is the best


def test_eval_videos_are_every_record_re_read_at_each_pass(tmp_path):
    """The per-epoch Hit@1 reads the whole eval split (once capped, silently, at its first 512
    videos) and holds one batch at a time."""
    from laf import tfrecords
    from schemas.records import VideoRecord

    rng = np.random.default_rng(0)
    videos = [VideoRecord(f"v{i}", "A:x", i % 2, rng.normal(size=(3 + i, 2)).astype(np.float32),
                          np.arange(3 + i, dtype=np.float32), 1.0, 3.0 + i) for i in range(5)]
    tfrecords.write(str(tmp_path / "eval" / "data.gz"), [v.serialize() for v in videos])
    source = selection.EvalVideos(str(tmp_path / "eval"), 2)
    assert len(source) == 5 and selection.tolerance(source) == 1 / 5
    for _ in range(2):
        read = list(source)
        assert [v["label"] for v in read] == [v.label_index for v in videos]
        for got, want in zip(read, videos):
            np.testing.assert_array_equal(got["features"], want.features)
    net = model_lib.build("cnn", 2, cnn_hidden=[], actionness=True)
    net(np.zeros((1, 1, 2), np.float32))
    outputs = model_lib.traced_outputs(net)
    assert selection.video_hit_at_1(outputs, source, batch=2) == selection.video_hit_at_1(outputs, read, batch=32) \
        == selection.video_hit_at_1(outputs, read, slots=8)
    many = [VideoRecord(f"w{i:03d}", "A:x", 0, np.zeros((1, 2), np.float32), np.zeros(1, np.float32), 1.0, 1.0)
            for i in range(600)]  # past the old cap of 512
    tfrecords.write(str(tmp_path / "many" / "data.gz"), [v.serialize() for v in many])
    assert len(list(selection.EvalVideos(str(tmp_path / "many"), 2))) == 600


def test_eval_batches_are_bounded_by_their_padded_frames():
    """Long videos go fewer to a batch (all are padded to the longest); one longer than the bound goes alone."""
    videos = [{"features": np.zeros((n, 2), np.float32), "label": 0} for n in (3, 4, 5, 6, 7, 30, 2)]
    length = lambda video: len(video["features"])  # noqa: E731
    sizes = [[len(v["features"]) for v in g] for g in batches.groups(videos, length, batch=32, slots=12)]
    assert sizes == [[3, 4], [5, 6], [7], [30], [2]]
    assert [len(g) for g in batches.groups(videos, length, batch=3, slots=10 ** 6)] == [3, 3, 1]
    assert [len(g) for g in batches.groups(videos, length, slots=10 ** 6)] == [7]  # no count limit
