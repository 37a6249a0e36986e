"""Real media for the video tests, made with real encoders through PyAV.

Each frame's brightness encodes its presentation time (``level(t)``), so a test can read
back which frame a sample really used; a white square marks the top-left corner so a
test can check rotation.
"""
from __future__ import annotations

import fractions
import os
import struct
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import av
import numpy as np

W, H = 96, 64


def level(t: float) -> int:
    """Frame brightness for presentation time ``t`` (seconds); 20 levels per second."""
    return int(round(30 + 20 * t)) % 256


def time_of_level(value: float) -> float:
    return (value - 30) / 20.0


def frame_image(t: float, tint: Sequence[int] = (0, 0, 0)) -> np.ndarray:
    img = np.full((H, W, 3), level(t), np.uint8)
    img[:, W // 2:] = np.clip(np.asarray(tint) + level(t), 0, 255)  # right half tinted per clip
    img[:12, :12] = 255
    return img


def encode(path: str, codec: str, times: Sequence[float], *, pix_fmt: str = "yuv420p",
           options: Optional[Dict[str, str]] = None, container_options: Optional[Dict[str, str]] = None,
           rotation: Optional[float] = None, display_matrix: Optional[Sequence[int]] = None,
           tint: Union[Sequence[int], Callable] = (0, 0, 0),
           time_base: fractions.Fraction = fractions.Fraction(1, 1000),
           image: Optional[Callable[[float], np.ndarray]] = None) -> str:
    """Encode frames shown at ``times`` (seconds; uneven spacing gives a VFR file); ``tint`` may be
    a function of the time (scenes that change within one video); ``image``: the picture at a time
    instead of ``frame_image``'s."""
    with av.open(path, "w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        stream.codec_context.time_base = time_base
        if options:
            stream.options = options
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if display_matrix is not None:
            stream.set_display_matrix(list(display_matrix))
        for t in times:
            picture = image(t) if image else frame_image(t, tint(t) if callable(tint) else tint)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = int(round(t / time_base)), time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def moving_image(t: float) -> np.ndarray:
    """Gradients that drift every frame: no scene cut, so an encoder places keyframes only where told."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([(x * 3 + t * 40) % 256, (y * 2 + t * 25) % 256, (x + y + t * 60) % 256], -1).astype(np.uint8)


def cfr(seconds: float, rate: float = 10.0) -> np.ndarray:
    return np.arange(int(round(seconds * rate))) / rate


def vfr_times() -> np.ndarray:
    """30 fps for 2 s, then 2 fps for 4 s, then 15 fps for 2 s."""
    return np.concatenate([np.arange(0, 2, 1 / 30), np.arange(2, 6, 0.5), np.arange(6, 8, 1 / 15)])


def audio_only(path: str) -> str:
    with av.open(path, "w") as out:
        stream = out.add_stream("aac", rate=22050)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 22050, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def song_with_cover(folder: str) -> str:
    """An M4A of silence whose album art is a one-picture "video" stream (attached_pic), as a music
    file's; needs the ffmpeg CLI (PyAV cannot mark a stream's disposition)."""
    import subprocess

    from PIL import Image

    sound, cover, song = (os.path.join(folder, name) for name in ("sound.m4a", "cover.png", "song.m4a"))
    audio_only(sound)
    Image.new("RGB", (32, 32), (200, 30, 30)).save(cover)
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-i", sound, "-i", cover, "-map", "0", "-map", "1",
                    "-c", "copy", "-disposition:v", "attached_pic", song], check=True)
    return song


def with_sound(path: str, times: Sequence[float], sound_seconds: float) -> str:
    """An MP4 of H.264 frames at ``times`` and an AAC track of ``sound_seconds`` from 0 s: a sound
    track that outlasts the picture, or a picture that starts late, as phone and web videos have."""
    rate = 8000
    with av.open(path, "w") as out:
        video = out.add_stream("libx264", rate=30)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.codec_context.time_base = fractions.Fraction(1, 1000)
        sound = out.add_stream("aac", rate=rate)
        for t in times:
            frame = av.VideoFrame.from_ndarray(frame_image(t), format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), fractions.Fraction(1, 1000)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        for i in range(int(sound_seconds * rate / 1024)):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i * 1024
            for packet in sound.encode(frame):
                out.mux(packet)
        for packet in sound.encode():
            out.mux(packet)
    return path


def _boxes(buf: bytes, start: int = 0, end: Optional[int] = None):
    """(type, offset, size) of the ISO-BMFF boxes in ``buf[start:end]``."""
    end = len(buf) if end is None else end
    while start < end:
        size, kind = struct.unpack(">I4s", buf[start:start + 8])
        yield kind.decode(), start, size
        start += size


def _box(kind: str, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind.encode()) + payload


def with_edit_list(src: str, path: str, entries: Sequence[Tuple[float, float]]) -> str:
    """``src`` (an MP4 with its moov after the media) with an edit list of (seconds shown, media
    time it starts at) entries, as a trim without re-encoding leaves (QuickTime's, several entries)."""
    data = open(src, "rb").read()
    _, moov_at, moov_size = next(b for b in _boxes(data) if b[0] == "moov")
    moov = data[moov_at + 8:moov_at + moov_size]
    _, at, _ = next(b for b in _boxes(moov) if b[0] == "mvhd")
    movie_scale = struct.unpack(">I", moov[at + 20:at + 24])[0]
    out = b""
    for kind, at, size in _boxes(moov):
        if kind != "trak":
            out += moov[at:at + size]
            continue
        trak = moov[at + 8:at + size]
        _, mdia_at, mdia_size = next(b for b in _boxes(trak) if b[0] == "mdia")
        mdia = trak[mdia_at + 8:mdia_at + mdia_size]
        _, hd, _ = next(b for b in _boxes(mdia) if b[0] == "mdhd")
        media_scale = struct.unpack(">I", mdia[hd + 20:hd + 24])[0]
        elst = _box("elst", struct.pack(">BBBBI", 0, 0, 0, 0, len(entries)) + b"".join(
            struct.pack(">IiHH", int(shown * movie_scale), int(start * media_scale), 1, 0) for shown, start in entries))
        parts = {k: trak[o:o + n] for k, o, n in _boxes(trak)}
        out += _box("trak", parts["tkhd"] + _box("edts", elst) + b"".join(
            trak[o:o + n] for k, o, n in _boxes(trak) if k not in ("edts", "tkhd")))
    with open(path, "wb") as f:
        f.write(data[:moov_at] + _box("moov", out) + data[moov_at + moov_size:])
    return path


def truncated(src: str, path: str, keep: float = 0.4) -> str:
    with open(src, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * keep)])
    return path


def copy_from_packet(src: str, path: str, skip: int, container_format: str) -> str:
    """A stream copy of ``src``'s picture without its first ``skip`` packets: a recording or a cut that
    starts mid-group, whose first frames cannot decode (no keyframe before them)."""
    with av.open(src) as source, av.open(path, "w", format=container_format) as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        packets = (p for p in source.demux(source.streams.video[0]) if p.size)
        for i, packet in enumerate(packets):
            if i >= skip:
                packet.stream = stream
                out.mux(packet)
    return path


def make_set(directory: str, seconds: float = 4.0) -> Dict[str, str]:
    """The issue's clip set: name -> path."""
    os.makedirs(directory, exist_ok=True)
    p = lambda name: os.path.join(directory, name)  # noqa: E731
    clips = {
        "h264": encode(p("h264.mp4"), "libx264", cfr(seconds), options={"g": "20", "bf": "2"},
                       container_options={"movflags": "faststart"}, tint=(60, 0, 0)),
        "vp9": encode(p("vp9.webm"), "libvpx-vp9", cfr(seconds), options={"g": "15"}, tint=(0, 60, 0)),
        "mjpeg": encode(p("mjpeg.avi"), "mjpeg", cfr(seconds), pix_fmt="yuvj420p", tint=(0, 0, 60)),
        "rotated": encode(p("rotated.mp4"), "libx264", cfr(seconds), rotation=90, tint=(60, 60, 0)),
        "vfr": encode(p("vfr.mp4"), "libx264", vfr_times(), tint=(0, 60, 60)),
        "audio": audio_only(p("audio.m4a")),
    }
    clips["truncated"] = truncated(clips["h264"], p("truncated.mp4"))
    open(p("zero.mp4"), "wb").close()
    clips["zero"] = p("zero.mp4")
    with open(p("page.webm"), "w") as f:
        f.write("<html><body>a web page saved as video</body></html>")
    clips["page"] = p("page.webm")
    return clips


def nan_weights(config, path: str) -> str:
    """A weights file of ``config``'s backbone whose last layer with weights is NaN: every feature it
    gives is NaN (a broken file, as a float16 overflow leaves one)."""
    from laf.ingest.backbones import _build

    _, base = _build(config)
    kernel = [layer for layer in base.layers if layer.weights][-1].weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    base.save_weights(path)
    return path
