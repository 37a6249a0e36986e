"""trainer.novelty: frames the sibling videos lack are the novel ones; the targets reach the
trainer's actionness labels through tf.data, combined with the LAF cue as far as that cue
singles out frames."""
import numpy as np
import tensorflow as tf

from laf import tfrecords
from schemas import names
from schemas.records import VideoRecord
from trainer import data
from trainer.novelty import _Reservoir, frame_moments, read_frames, sibling_novelty

SCENES = {"Pool": np.eye(8, dtype=np.float32)[0], "Pitch": np.eye(8, dtype=np.float32)[1]}
ACTIONS = {"Pool:Crawl": 2, "Pool:Fly": 3, "Pitch:Kick": 4, "Pitch:Head": 5}


def _video(label: str, action_at: range, steps: int = 20, seed: int = 0) -> VideoRecord:
    """Scene frames everywhere, the action's own direction inside ``action_at``; a little noise."""
    rng = np.random.default_rng(seed)
    x = np.tile(SCENES[label.split(":")[0]], (steps, 1)) + rng.normal(0, 0.05, (steps, 8)).astype(np.float32)
    x[list(action_at), ACTIONS[label]] += 3.0
    return VideoRecord(video_id=f"{label}-{seed}", label=label, label_index=list(ACTIONS).index(label),
                       features=x.astype(np.float32), timestamps=np.arange(steps, dtype=np.float32), fps=1.0,
                       duration=float(steps), laf_scores=np.full(steps, 0.9, np.float32))


def _novelty(videos, reference, **kwargs):
    """Novelty against ``reference`` standardised by its own frames' moments, as the trainer does."""
    return sibling_novelty(videos, reference, frame_moments(reference), **kwargs)


def test_the_action_is_novel_against_siblings_and_the_scene_is_not():
    train = [_video(label, range(5 + i, 9 + i), seed=i) for i in range(3) for label in ACTIONS]
    held_out = _video("Pool:Fly", range(12, 15), seed=9)
    found = _novelty(train + [held_out], train)
    assert set(found) == {v.video_id for v in train + [held_out]}
    target = found[held_out.video_id]
    action = np.zeros(20, bool)
    action[12:15] = True
    assert target[action].min() > 0.9 and target[~action].max() < 0.5, target.round(2)


def test_a_video_without_siblings_gets_no_entry():
    lonely = _video("Pool:Crawl", range(3, 6))
    assert _novelty([lonely], [lonely]) == {}
    assert _novelty([lonely], []) == {}  # no reference frames at all


def test_an_empty_reference_video_is_skipped():
    train = [_video(label, range(5, 9), seed=1) for label in ACTIONS]
    empty = VideoRecord.parse(VideoRecord("empty", "Pool:Fly", 1, np.zeros((0, 8), np.float32), np.zeros(0, np.float32),
                                          1.0, 0.0).serialize())
    assert empty.features.size == 0
    assert _novelty(train + [empty], train + [empty]).keys() == _novelty(train, train).keys()


def test_novelty_gates_the_laf_targets_in_the_batches(tmp_path):
    """The scene-biased case: LAF is high on every frame and highest on a context frame, so LAF
    alone puts the top actionness target there; with novelty only the action frames keep theirs."""
    from laf import tfrecords

    videos = [_video(label, range(5, 9), seed=i) for i in range(2) for label in ACTIONS]
    for video in videos:
        video.laf_scores[5:9], video.laf_scores[15] = 0.95, 0.99
    path = str(tmp_path / "Split-train" / "data_tfrecord-00000-of-00001.gz")
    tfrecords.write(path, [v.serialize() for v in videos])
    novelty = _novelty(videos, videos)
    kwargs = dict(dim=8, weighting="laf", k=20, streams=1, actionness=True)
    with_novelty = [t.numpy()[0] for _, _, _, t in data.stream_batches(str(tmp_path / "Split-train"),
                                                                       novelty=novelty, **kwargs)]
    laf_only = [t.numpy()[0] for _, _, _, t in data.stream_batches(str(tmp_path / "Split-train"), **kwargs)]
    for video, got, alone in zip(videos, with_novelty, laf_only):
        laf = data.laf_actionness(tf.constant(video.laf_scores)).numpy()
        np.testing.assert_allclose(alone, laf)
        assert alone.argmax() == 15
        span = 0.99 - 0.9  # the best frame's LAF minus the median frame's
        n = novelty[video.video_id]
        np.testing.assert_allclose(got, np.sqrt(n * (span * laf + (1 - span) * n)), atol=1e-6)
        assert got[5:9].min() > 0.5 and np.delete(got, range(5, 9)).max() < 0.25, got.round(2)


def _targets(laf: np.ndarray, novelty: np.ndarray) -> np.ndarray:
    video = {names.LAF_SCORE: tf.constant(laf, tf.float32)}
    return data.actionness_targets(video, "laf", tf.constant(laf), tf.constant(novelty, tf.float32)).numpy()


def test_a_laf_that_singles_out_nothing_does_not_veto_novelty():
    """A sibling whose web images show the plain scene: LAF ~0.9 on every frame, and the action's
    frames happen to sit below the video's median. Relative to the video that cue is 0 there, so a
    plain soft AND would call the action context; with the LAF's span (0.02) the target follows
    novelty. A LAF that spans the scale keeps the soft AND: a frame the web images reject stays off."""
    novelty = np.zeros(20, np.float32)
    novelty[5:9] = 1.0
    flat_laf = np.full(20, 0.9, np.float32)
    flat_laf[5:9], flat_laf[15] = 0.89, 0.92
    got = _targets(flat_laf, novelty)
    assert got[5:9].min() > 0.95 and np.delete(got, range(5, 9)).max() < 0.05, got.round(2)
    assert np.sqrt(data.laf_actionness(tf.constant(flat_laf)).numpy() * novelty)[5:9].max() == 0.0

    full_laf = np.full(20, 0.05, np.float32)
    full_laf[5:7] = 1.0  # the web images name only the first half of the novel frames
    got = _targets(full_laf, novelty)
    span = 0.95
    rel = data.laf_actionness(tf.constant(full_laf)).numpy()
    np.testing.assert_allclose(got, np.sqrt(novelty * (span * rel + (1 - span) * novelty)), atol=1e-6)
    assert got[5:7].min() > 0.99 and got[7:9].max() < 0.25, got.round(2)
    assert float(data.laf_span(tf.zeros([0]))) == 0.0


def test_a_clip_of_one_or_two_frames_still_teaches_its_label():
    """Their upper median was their best frame: every target and class weight was 0."""
    for laf, distance, expected in (([0.9], [0.4], [1.0]), ([0.2, 0.9], [0.3, 0.8], [0.0, 1.0]),
                                    ([0.1, 0.5, 0.9], [0.1, 0.5, 0.9], [0.0, 0.0, 1.0])):
        novelty = data.relative_to_video(tf.constant(distance, tf.float32)).numpy()  # as trainer.novelty makes it
        np.testing.assert_allclose(novelty, expected, atol=1e-6)
        got = _targets(np.float32(laf), novelty)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        weights = data.seen_recently(tf.constant(got), tf.range(len(laf), dtype=tf.float32)).numpy()
        assert weights.max() > 0.9


def test_the_reference_frames_are_drawn_uniformly_as_they_stream_past():
    """Algorithm R: every row while there are fewer than the size; beyond it a uniform draw that does
    not depend on how the rows arrive (one video at a time, or one row at a time)."""
    rows = np.arange(1000, dtype=np.float32)[:, None]
    few = _Reservoir(2000, np.random.default_rng(0))
    for part in np.array_split(rows, 7):
        few.add(part)
    assert np.array_equal(few.rows(), rows)
    chunked, single = _Reservoir(100, np.random.default_rng(1)), _Reservoir(100, np.random.default_rng(1))
    for part in np.array_split(rows, [30, 95, 100, 400, 401, 999]):
        chunked.add(part)
    for row in rows:
        single.add(row[None])
    assert np.array_equal(chunked.rows(), single.rows())
    drawn = chunked.rows()[:, 0]
    assert len(np.unique(drawn)) == 100 and (drawn >= 100).sum() > 60  # not the first 100 kept
    given = rows[:12].copy()
    _Reservoir(5, np.random.default_rng(2)).add(given)
    assert np.array_equal(given, rows[:12])  # a record's own frames are left as they were
    late = np.mean([(_draw(rows, seed) >= 500).mean() for seed in range(40)])
    assert abs(late - 0.5) < 0.05, late  # the second half of the stream as likely as the first


def _draw(rows: np.ndarray, seed: int) -> np.ndarray:
    reservoir = _Reservoir(50, np.random.default_rng(seed))
    for part in np.array_split(rows, 13):
        reservoir.add(part)
    return reservoir.rows()[:, 0]


def test_novelty_reads_each_video_once_and_bounds_the_reference():
    """Generators work (the trainer streams the records), and a reference pool larger than
    ``max_reference`` still finds the action; unbounded, it equals the in-memory answer."""
    train = [_video(label, range(5 + i % 3, 9 + i % 3), seed=i) for i in range(12) for label in ACTIONS]
    held_out = _video("Pool:Fly", range(12, 15), seed=99)
    whole = _novelty(train + [held_out], train)
    moments = frame_moments(train)
    streamed = sibling_novelty(iter(train + [held_out]), iter(train), moments)
    assert streamed.keys() == whole.keys() and all(np.array_equal(streamed[v], whole[v]) for v in whole)
    bounded = sibling_novelty(iter(train + [held_out]), iter(train), moments, max_reference=60)
    target = bounded[held_out.video_id]
    assert target[12:15].min() > 0.9 and np.delete(target, range(12, 15)).max() < 0.5, target.round(2)


def test_nearest_distances_in_blocks_equal_the_whole_matrix(monkeypatch):
    """A 6-hour video against an activity's siblings built a [T, M] matrix of gigabytes: the rows now
    go in blocks, and the k smallest by partition give a full sort's mean."""
    from trainer import novelty

    rng = np.random.default_rng(0)
    z, others = rng.normal(size=(50, 8)).astype(np.float32), rng.normal(size=(37, 8)).astype(np.float32)
    whole = np.sqrt(np.sort(novelty._sq_distances(z, others), axis=1)[:, :5]).mean(1)
    np.testing.assert_array_equal(novelty._nearest_mean(z, others, 5), whole)  # one block: the same numbers
    monkeypatch.setattr(novelty, "BLOCK_BYTES", 4 * 37 * 7)  # blocks of 7 rows
    np.testing.assert_allclose(novelty._nearest_mean(z, others, 5), whole, rtol=1e-6)
    few = others[:3]  # fewer reference frames than k: all of them
    np.testing.assert_allclose(novelty._nearest_mean(z, few, 5),
                               np.sqrt(novelty._sq_distances(z, few)).mean(1), rtol=1e-6)


def test_squared_distances_are_those_of_the_rows():
    """The matrix both sides of the block test build on, against the rows' own differences."""
    from trainer import novelty

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 4)), rng.normal(size=(9, 4))
    want = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    np.testing.assert_allclose(novelty._sq_distances(a, b), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(novelty._sq_distances(a, b, (b * b).sum(1)), want, rtol=1e-12, atol=1e-12)
    far = (1e4 + rng.normal(size=(6, 4))).astype(np.float32)  # float32 features far from 0: the expansion
    assert (novelty._sq_distances(far, far) >= 0).all()  # rounds a row's distance to itself to -64 unclipped


def test_the_trainer_reads_the_records_as_videos_parse_them(tmp_path, caplog):
    """tf.data's parse (``read_frames``) gives each video's id, label, activity and features as
    ``VideoRecord.parse`` does, so the targets are the same to the last bit; a line tells the count."""
    train = [_video(label, range(5 + i, 9 + i), seed=i) for i in range(3) for label in ACTIONS]
    train[0].activity = "Swimming"  # a taxonomy's activity, not the label's prefix
    empty = VideoRecord(video_id="empty", label="Pool:Fly", label_index=1, features=np.zeros((0, 8), np.float32),
                        timestamps=np.zeros(0, np.float32), fps=1.0, duration=0.0)
    no_activity = train[1].to_proto()
    del no_activity.context.feature[names.ACTIVITY]  # a record without it: the label's prefix
    tfrecords.write(str(tmp_path / "train.gz"), [v.serialize() for v in train[:1]] + [
        no_activity.SerializeToString()] + [v.serialize() for v in train[2:] + [empty]])
    read = list(read_frames(str(tmp_path / "train.gz"), 8))
    parsed = [VideoRecord.parse(s) for s in tfrecords.read(str(tmp_path / "train.gz"))]
    assert [(f.video_id, f.label, f.activity, f.num_frames) for f in read] == [
        (v.video_id, v.label, v.activity, v.num_frames) for v in parsed]
    assert read[0].activity == "Swimming" and read[1].activity == "Pool"
    assert all(np.array_equal(f.features, v.features) for f, v in zip(read[:-1], parsed))
    moments = frame_moments(train)
    with caplog.at_level("INFO", logger="trainer.novelty"):
        got = sibling_novelty(iter(read), iter(read), moments)
    want = sibling_novelty(iter(parsed), iter(parsed), moments)
    assert got.keys() == want.keys() and all(np.array_equal(got[v], want[v]) for v in want)
    assert "sibling novelty: 11 videos with siblings" in caplog.text


def test_the_pools_norms_joined_give_the_joined_pool_s_distances_to_the_last_bit():
    """Each pool's squared norms are computed once and joined per video: the same bits as the norms
    of the joined pool (as computed before), pools of several sizes."""
    from trainer import novelty

    rng = np.random.default_rng(0)
    pools = [rng.normal(size=(n, 301)).astype(np.float32) for n in (7, 40, 1, 23)]
    z = rng.normal(size=(19, 301)).astype(np.float32)
    joined = np.concatenate(pools)
    norms = np.concatenate([(p * p).sum(1) for p in pools])
    np.testing.assert_array_equal(norms, (joined * joined).sum(1))
    np.testing.assert_array_equal(novelty._nearest_mean(z, joined, 5, norms), novelty._nearest_mean(z, joined, 5))
