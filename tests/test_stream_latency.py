"""bench/stream_latency.py's stream: test videos joined into one MPEG-TS by FFmpeg's concat demuxer."""
import shutil

import av
import numpy as np
import pytest

from video_fixtures import encode


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the bench needs ffmpeg (make ffmpeg)")
def test_videos_with_quotes_in_their_names_are_joined(tmp_path):
    """A quote in a file name ended the listing's quoted path: the whole bench stopped."""
    from bench import stream_latency

    videos = [encode(str(tmp_path / name), "h264", np.arange(10) / 10) for name in ("Tom's clip.mp4", "plain.mp4")]
    joined = stream_latency.concat_ts(videos, str(tmp_path / "stream.ts"), loops=2)
    with av.open(joined) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames == 40


@pytest.mark.parametrize("actionness", [True, False])
def test_models_with_and_without_actionness_are_measured(tmp_path, actionness):
    """The baselines and the paper's scheme export no actionness output: the bench stopped on a KeyError."""
    import tensorflow as tf

    from bench import stream_latency
    from laf.serve import online
    from schemas.records import VideoRecord
    from schemas.segment import Segment
    from trainer import model, serving

    tf.keras.utils.set_random_seed(3)
    net = model.build("lstmp", 2, cells=8, projection=4, actionness=actionness)
    net(tf.zeros([1, 1, 6]))
    serving.export(net, 6, str(tmp_path / "m"))
    loaded = tf.saved_model.load(str(tmp_path / "m"))
    records = [VideoRecord(f"v{i}", "A:x", 0, np.random.RandomState(i).randn(20, 6).astype(np.float32),
                           np.arange(20, dtype=np.float32), 1.0, 20.0, segments=[Segment(5.0, 9.0, "A:x")],
                           segment_label_indices=[0]) for i in range(2)]
    found = stream_latency.maps(loaded, records, ["A:x", "A:y"], online.OnlineConfig())
    assert set(found) >= {"online", "offline"} and found["offline"]["detections"] > 0
    state = stream_latency.carried_state(loaded, records, [0.0, 20.0], ["A:x", "A:y"], online.OnlineConfig())
    assert state["actions"] == 2
