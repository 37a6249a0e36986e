"""Live sources for ``laf localize --stream``: open, decode, keep one stream clock, sample, reconnect.

Anything FFmpeg opens as a live input works (rtsp/rtmp/srt/udp/tcp/HLS URLs, ``-`` for MPEG-TS
on stdin, a file that is still being written), in a container: a raw H.264/HEVC elementary stream
carries no frame times (:class:`UnusableSourceError`). PyAV's ``timeout`` (an FFmpeg interrupt callback)
bounds every open and read, so a stalled source is noticed instead of blocking forever.

Stream time is seconds from the first keyframe and never goes back: when the source's
timestamps restart or jump (a new encoder, a concatenated stream, a reconnect), the clock
continues from the last frame, plus the wall-clock time of an outage, so event times still
line up with the broadcast. The sampler leaves the grid times inside an outage out (``Frame.resumed``)
rather than repeating the frame before or after it.

Frames are sampled on the model's fps grid by the offline rule (``laf.ingest.media.Video``), decided
as soon as frames a little past each grid time have arrived: the nearest keyframe within half
an interval, else the nearest reference frame of the nearest frame's group of pictures when it
lies within ``ref_tolerance`` intervals of that frame, else the nearest frame. The offline
sampler decodes with non-reference frames skipped and so takes the same frames, which makes a
file fed as a stream give the same samples as the file (reference frames are known from the
H.264/HEVC NAL headers; other codecs count every frame as a reference).
"""
from __future__ import annotations

import bisect
import dataclasses
import io
import math
import os
import select
import sys
import threading
import time
from typing import Iterator, List, Optional

import av
from laf import files
from laf.errors import UserError
from laf.ingest.media import RAW_FORMATS, MediaError, NoDecoderError, Sample, rgb_image, untimed, video_stream

NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "srt", "udp", "tcp", "http", "https", "rtp", "hls")
MAX_JUMP = 10.0  # seconds: a forward timestamp jump larger than this is a restart, not a gap
MAX_PENDING = 256  # demuxed frames awaiting their decoded picture; more means some never decode
OUTAGE_INTERVALS = 2.0  # a reconnect that skips more than this many sampling intervals is an outage
KEYFRAME_WAIT = 10.0  # seconds of pictures skipped before a connection's first keyframe that are worth a word


class SourceError(UserError):
    """The source cannot be opened or read, and reconnecting is off or has given up."""


class NoVideoError(SourceError):
    """The source opened but holds no video track (an audio stream, a wrong URL or track)."""


class UnusableSourceError(SourceError):
    """The source opened, but no connection to it can give a frame here (no decoder for its codec, a
    raw stream whose frames carry no times): an error at once, not a source to reconnect to."""


NO_VIDEO_RETRIES = 3  # reopenings of a source that never had video: an RTMP/FLV publisher may probe as audio
# only while its encoder starts; a wrong URL then ends in seconds, not never (max_attempts 0)


@dataclasses.dataclass(frozen=True)
class SourceOptions:
    open_timeout: float = 10.0      # seconds to open (connect, probe) the source
    read_timeout: float = 10.0      # seconds without data before the source counts as stalled
    reconnect: bool = True          # reopen a stalled/broken/ended network source
    max_attempts: int = 0           # consecutive failed reopenings before giving up (0: never)
    backoff: float = 0.5            # first wait before reopening (seconds), doubled per failure
    max_backoff: float = 10.0


@dataclasses.dataclass
class Frame:
    time: float                     # stream seconds
    key: bool
    ref: bool                       # a reference frame (kept when non-reference frames are skipped)
    gop: int                        # group of pictures (counts keyframes over the whole stream)
    frame: av.VideoFrame
    duration: float = 0.0           # seconds, from the packet when the container knows it
    resumed: bool = False           # the first frame of a reconnection: stream time skipped the outage


def is_network(source: str) -> bool:
    return source.split("://", 1)[0].lower() in NETWORK_SCHEMES if "://" in source else False


# --- reference frames ----------------------------------------------------------------------

def _nal_units(data: bytes, length_prefixed: bool) -> Iterator[int]:
    """First byte of each NAL unit: Annex-B start codes (MPEG-TS) or 4-byte lengths (MP4)."""
    if length_prefixed:
        i = 0
        while i + 4 < len(data):
            size = int.from_bytes(data[i:i + 4], "big")
            yield data[i + 4]
            i += 4 + size
        return
    i = data.find(b"\x00\x00\x01")
    while 0 <= i < len(data) - 3:
        yield data[i + 3]
        i = data.find(b"\x00\x00\x01", i + 3)


def is_reference(packet: av.Packet, codec: str, length_prefixed: bool) -> bool:
    """Whether FFmpeg's ``skip_frame = "NONREF"`` keeps this packet's frame: for H.264 a slice
    with ``nal_ref_idc > 0``, for HEVC a slice that is not a sub-layer non-reference picture."""
    data = bytes(packet)
    for header in _nal_units(data, length_prefixed):
        if codec == "h264" and header & 0x1F in (1, 5):
            return bool(header >> 5 & 3)
        if codec == "hevc" and (header >> 1 & 0x3F) < 32:
            kind = header >> 1 & 0x3F
            return not (kind < 16 and kind % 2 == 0)
    return True


# --- decoding with one clock and reconnects ------------------------------------------------

class TimedPipe(io.RawIOBase):
    """A pipe (stdin) read with a timeout: FFmpeg's ``pipe:`` protocol blocks for ever on a writer
    that stalls without closing, which ``--read-timeout`` must end as it ends a file or a network
    source. Each read waits at most ``timeout`` seconds for data, then raises TimeoutError."""

    def __init__(self, fd: int, timeout: float):
        super().__init__()
        self.fd, self.timeout = fd, timeout

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        ready, _, _ = select.select([self.fd], [], [], self.timeout)
        if not ready:
            raise TimeoutError(f"no data for {self.timeout:g} s")
        data = os.read(self.fd, len(buffer))
        buffer[:len(data)] = data
        return len(data)


class LiveSource:
    """Decoded frames of a live source with a monotonic stream clock (``frames``)."""

    def __init__(self, source: str, options: SourceOptions = SourceOptions()):
        self.source, self.options = files.local(source), options  # file:///x is the file /x
        self.reconnects = 0
        self.damaged = 0                     # packets the decoder refused (skipped, as offline)
        self._damaged_gop: Optional[int] = None  # the group of the last one
        self._gop = -1
        self._last: Optional[float] = None   # stream time of the last frame
        self._spacing = 0.0                  # recent frame spacing, for restarts
        self._last_wall = 0.0
        self._said_keyframe = False          # whether _say_no_keyframe spoke
        self._recording = False              # the connection states a duration (a video on demand)

    def _open(self):
        s, o = self.source, self.options
        timeout = (o.open_timeout, o.read_timeout)
        try:
            if s == "-":
                return av.open(TimedPipe(0, o.read_timeout), format="mpegts", metadata_errors="replace")  # fd 0
            if not is_network(s):
                if not os.path.isfile(s):
                    raise SourceError(f"stream source not found: {s} (a file, '-' for stdin, or a URL)" if not
                                      os.path.exists(s) else f"stream source {s} is a folder, not a video file"
                                      if os.path.isdir(s) else f"stream source {s} is not a regular file: give a"
                                      f" named pipe or device as stdin (laf localize --stream - < {s})")
                # follow: a file still being written is read as it grows; a read timeout ends it
                return av.open(os.path.abspath(s), options={"follow": "1", "rw_timeout": str(int(o.read_timeout * 1e6))},
                               timeout=timeout, metadata_errors="replace")  # as laf.ingest.media opens a file
            return av.open(s, timeout=timeout, metadata_errors="replace")
        except av.FFmpegError as e:
            if s == "-":
                raise SourceError(f"cannot open stream on stdin (it expects MPEG-TS): {e}") from None
            if not is_network(s):
                empty = os.path.getsize(s) == 0
                raise SourceError(f"cannot open stream {s}: " + (
                    f"a zero-byte file (nothing written to it within {o.read_timeout:g} s)" if empty
                    else f"not a readable media stream (truncated or of another type?): {e}")) from None
            raise SourceError(f"cannot open stream {s}: {e}") from None

    def frames(self, stop: Optional[threading.Event] = None) -> Iterator[Frame]:
        """Every decoded frame in presentation order, across restarts and reconnects; ends when a
        file, stdin or a recording (a network source that states its duration) ends (or any network
        source ends with reconnecting off), or when ``stop`` is set
        while it waits to reconnect (its reader left; a source that stays down yields nothing more)."""
        failures, no_video = 0, 0
        while stop is None or not stop.is_set():
            delivered, self._recording = False, False
            try:
                container = self._open()
                for frame in self._decode(container):
                    delivered = True
                    yield frame
                ended, reason = True, "the source ended"
            except (av.FFmpegError, OSError, TimeoutError) as e:
                ended, reason = False, f"{type(e).__name__}: {e}"
            except SourceError as e:  # cannot open: for a network source, retried like a broken one (not when unusable)
                if isinstance(e, UnusableSourceError) or not (self.options.reconnect and is_network(self.source)):
                    raise
                if isinstance(e, NoVideoError) and self._last is None:  # never a video: the wrong source, not a
                    no_video += 1  # break (one that gave frames before may come back with them: retried as one)
                    if no_video > NO_VIDEO_RETRIES:
                        raise NoVideoError(f"{e}, in {no_video} connections") from None
                ended, reason = False, str(e)
            if delivered:  # a connection that gave frames worked: count failures afresh
                failures = 0
            if not is_network(self.source) or ended and self._recording:
                if ended and self._last is None:  # was "ended after 0 events", exit status 0
                    raise SourceError(f"stream {self.source} ended without a decodable video frame (no keyframe"
                                      " in it, or a video track without pictures)")
                if ended or self._last is not None:  # a file or stdin that stopped growing: the end
                    return
                raise SourceError(f"cannot read stream {self.source}: {reason}")
            if not self.options.reconnect:
                if ended:
                    return
                raise SourceError(f"stream {self.source} broke ({reason}); reconnecting is off")
            failures += 1
            if self.options.max_attempts and failures > self.options.max_attempts:
                raise SourceError(f"stream {self.source}: gave up after {self.options.max_attempts}"
                                  f" failed reconnects ({reason})")
            wait = min(self.options.max_backoff, self.options.backoff * 2 ** (failures - 1))
            print(f"stream: {reason}; reconnecting in {wait:.1f} s", file=sys.stderr, flush=True)
            if stop is None:
                time.sleep(wait)
            elif stop.wait(wait):
                return
            self.reconnects += 1

    def _decode(self, container) -> Iterator[Frame]:
        with container:
            if not container.streams.video:
                raise NoVideoError(f"stream {self.source} has no video track (an audio-only stream, or the wrong URL?)")
            try:
                stream = video_stream(container)  # as a file's: not a cover picture, one FFmpeg decodes
            except NoDecoderError as e:
                raise UnusableSourceError(f"stream {self.source}: {e.reason}") from None
            except MediaError as e:  # only a cover picture: an audio stream, as above
                raise NoVideoError(f"stream {self.source}: {e.reason}") from None
            # Why: an MP4 or a finished HLS playlist over HTTP ends as a file does; reopened as a break, it
            # played again from its start, forever. A live source states no duration (FFmpeg's AV_NOPTS_VALUE),
            # or 0 (a live RTMP/FLV publisher's metadata: OBS, ffmpeg -f flv)
            self._recording = bool(container.duration)
            codec = stream.codec_context.name
            extradata = stream.codec_context.extradata or b""
            length_prefixed = extradata[:1] == b"\x01"  # avcC/hvcC: MP4-style NAL lengths
            tb = float(stream.time_base)
            info = {}          # pts -> (key, ref, gop, duration) of demuxed, not yet decoded frames
            origin = None      # pts of this connection's first keyframe
            offset = 0.0       # stream time of ``origin``
            previous = None    # this connection's last local time
            skipped_since = None  # time of this connection's first picture before a keyframe
            def emit(frames) -> Iterator[Frame]:
                nonlocal previous, offset
                for picture in frames:
                    out = self._frame(picture, info, origin, offset, previous, tb)
                    if out is not None:
                        frame, previous, offset = out
                        yield frame

            failure = None
            try:
                for packet in container.demux(stream):
                    pts = packet.pts if packet.pts is not None else packet.dts
                    if pts is None and packet.size and container.format.name in RAW_FORMATS:
                        raise UnusableSourceError(self._untimed(container.format.name))
                    if pts is None or packet.size == 0:  # the demuxer's final flush packet, or nothing to decode
                        continue
                    if packet.is_keyframe:
                        self._gop += 1
                        if origin is None:
                            origin = pts
                            offset = self._resume_time()
                    if origin is None:  # frames before the first keyframe cannot be decoded
                        skipped_since = pts * tb if skipped_since is None else skipped_since
                        self._say_no_keyframe(pts * tb - skipped_since)
                        continue
                    info[pts] = (bool(packet.is_keyframe), is_reference(packet, codec, length_prefixed),
                                 self._gop, (packet.duration or 0) * tb)
                    try:
                        decoded = stream.codec_context.decode(packet)
                    except av.error.InvalidDataError:  # one damaged packet, not a broken source: skipped
                        del info[pts]  # (the decoder conceals it in the frames after, as offline)
                        self.damaged += 1
                        self._damaged_gop = self._gop
                        continue
                    yield from emit(decoded)
            except (av.FFmpegError, OSError, TimeoutError) as e:  # stall or break: the decoder's frames still count
                failure = e
            yield from emit(stream.codec_context.decode(None))
            if failure is not None:
                raise failure

    def _untimed(self, demuxer: str) -> str:
        """Why a raw elementary stream gives no frame, and how to relay it. Why an error: each of its
        packets was skipped for want of a time, so it gave no frame and no word while data kept coming
        (a camera's raw H.264 over TCP)."""
        return (f"stream {self.source} is {untimed(demuxer)}; relay it in a container at its real rate, e.g."
                f" ffmpeg -f {demuxer} -r RATE -i SOURCE -c copy -f mpegts - | laf localize --stream - ...")

    def _say_no_keyframe(self, span: float) -> None:
        """Says once per source, after ``span`` >= :data:`KEYFRAME_WAIT` seconds of a connection's pictures
        skipped before its first keyframe, why nothing comes out (not again at each reconnect). Why: a
        source whose encoder seldom or never sends a keyframe (a long interval, intra refresh) gave no
        frames and no word while it played."""
        if span >= KEYFRAME_WAIT and not self._said_keyframe:
            self._said_keyframe = True
            print(f"stream: no keyframe in {span:.0f} s of {self.source}'s pictures, and none decodes before one"
                  " (does its encoder use intra refresh or a long keyframe interval? set one, e.g. ffmpeg -g)",
                  file=sys.stderr, flush=True)

    def _after_damage(self) -> bool:
        """Whether a packet of this group or the one before was damaged. Why so narrow: elsewhere a
        picture behind the clock is a restart (a camera or encoder reset), also one that does not
        start at a keyframe (intra refresh may never send one)."""
        return self._damaged_gop is not None and self._gop - self._damaged_gop <= 1

    def _frame(self, frame, info, origin, offset, previous, tb):
        """(Frame, local time, offset) with the clock kept monotonic, or None for an unknown frame."""
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts not in info:
            return None
        key, ref, gop, duration = info.pop(pts)
        while len(info) > MAX_PENDING:  # packets whose frames never came out (corrupt data): forget the oldest
            del info[min(info)]
        local = (pts - origin) * tb
        if previous is not None and local < previous - 1e-6 and not key and self._after_damage():
            return None  # a late picture of a damaged group, behind the clock: no restart
        resumed = previous is None and self._last is not None
        if previous is not None and not (previous - 1e-6 <= local <= previous + MAX_JUMP):
            offset = self._last + max(self._spacing, 1e-3) - local  # timestamps restarted: continue the clock
        t = local + offset
        if self._last is not None and t > self._last:
            self._spacing = t - self._last
        self._last, self._last_wall = t, time.monotonic()
        return Frame(t, key, ref, gop, frame, duration, resumed), local, offset

    def _resume_time(self) -> float:
        """Stream time for a connection's first frame: 0, or after the last frame plus the outage."""
        if self._last is None:
            return 0.0
        return self._last + max(self._spacing, time.monotonic() - self._last_wall)


# --- sampling on the model's grid ----------------------------------------------------------

class OnlineSampler:
    """Frames in, ``laf.ingest.media.Sample`` s out on the ``fps`` grid, each decided as soon as frames
    past it settle which frame the offline rule takes (see the module docstring)."""

    def __init__(self, fps: float, size: int, keyframe_window: float = 0.5, ref_tolerance: float = 0.25):
        self.fps, self.size = float(fps), int(size)
        self.interval = 1.0 / self.fps
        self.window, self.tolerance = keyframe_window * self.interval, ref_tolerance * self.interval
        self.index = 0
        self._frames: List[Frame] = []
        self._end = 0.0
        self._longest = 0.0  # the longest frame duration seen: the last frame lasts that long, as offline

    @property
    def target(self) -> float:
        return self.index * self.interval

    def push(self, frame: Frame) -> List[Sample]:
        out = []
        if frame.resumed and self._frames and frame.time - self._frames[-1].time > OUTAGE_INTERVALS * self.interval:
            # An outage: the grid times up to the last frame's end as at a stream's end, none inside the
            # gap (they would all repeat the frame before or after it), then on from this frame.
            out += self.finish()
            self.index = max(self.index, math.ceil(frame.time / self.interval - 1e-9))
            self._frames.clear()
        self._frames.append(frame)
        self._longest = max(self._longest, frame.duration)
        self._end = frame.time + (self._longest or self._spacing())
        while self._settled(frame.time):
            out.append(self._take())
        return out

    def finish(self) -> List[Sample]:
        """The grid times before the stream's end (the last frame + the longest frame duration), as offline."""
        out = []
        while self._frames and self.target < self._end - 1e-9:
            out.append(self._take())
        return out

    def _spacing(self) -> float:
        f = self._frames
        return f[-1].time - f[-2].time if len(f) > 1 else 0.0

    def _settled(self, now: float) -> bool:
        t = self.target
        if now < t + self.window + 1e-9:  # a keyframe within the window may still come
            return False
        want = self._nearest(self._frames, t)
        return now > t + abs(want.time - t) + self.tolerance + 1e-9

    def _take(self) -> Sample:
        t = self.target
        key = self._nearest([f for f in self._frames if f.key], t)
        if key is not None and abs(key.time - t) < self.window - 1e-9:
            chosen = key
        else:
            want = self._nearest(self._frames, t)
            refs = [f for f in self._frames if f.gop == want.gop and (f.ref or f.key)]
            best = self._nearest(refs, t)
            ok = best is not None and abs(best.time - t) <= abs(want.time - t) + self.tolerance + 1e-9
            chosen = best if ok else want
        sample = Sample(self.index, t, chosen.time, rgb_image(chosen.frame, self.size))
        self.index += 1
        self._prune()
        return sample

    def _prune(self) -> None:
        """Drop frames no later grid time can use: all but the last one before the next target
        minus two intervals (enough for the keyframe window and the reference tolerance)."""
        horizon = self.target - 2 * self.interval
        times = [f.time for f in self._frames]
        keep = max(0, bisect.bisect_right(times, horizon) - 1)
        del self._frames[:keep]

    @staticmethod
    def _nearest(frames: List[Frame], t: float) -> Optional[Frame]:
        """Nearest to ``t``, the earlier one on ties (``laf.ingest.media._nearest``)."""
        return min(frames, key=lambda f: (abs(f.time - t), f.time), default=None)


def samples(source: LiveSource, fps: float, size: int, stop: Optional[threading.Event] = None) -> Iterator[Sample]:
    """Samples of a live source on the fps grid, until it ends (or ``stop``: ``LiveSource.frames``)."""
    sampler = OnlineSampler(fps, size)
    for frame in source.frames(stop):
        yield from sampler.push(frame)
    yield from sampler.finish()

