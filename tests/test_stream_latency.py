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
