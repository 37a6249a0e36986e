"""Frame sampling from untrimmed videos with PyAV (paper §3.1: a video is a bag of frames).

Frames are sampled on a fixed time grid (``fps`` samples per second) by *presentation
timestamp*, so variable-frame-rate files are sampled correctly. Decoding is the cost floor,
so only what a sample needs is decoded:

- a sample whose nearest keyframe lies closer than ``keyframe_window`` sampling intervals takes
  that keyframe, and the rest of its group of pictures is never sent to the decoder;
- otherwise its group of pictures is decoded from the keyframe up to the sample with
  non-reference frames skipped (``skip_frame = "NONREF"``), and the nearest decoded frame
  is used when it lies within ``ref_tolerance`` intervals of the ideal frame; else that
  group is decoded again in full.

Every planned group starts from a drained and flushed decoder, as after a seek: the groups
in between were never sent, and an open GOP's keyframe is no IDR frame.

Times are seconds from the first shown frame (an edit list's hidden lead-in does not count). Each sample reports its timestamp error (actual
frame time minus grid time). Parallel decoding splits the plan into blocks of whole groups of
pictures, each decoded by a single-threaded FFmpeg decoder after a seek: FFmpeg's own frame
threads cost ~30% more CPU per frame on 720p H.264 and stall on the skips above, CPU the
backbone running alongside needs. ``decode_threads``: 1 (blocks one after another), N, or 0
(one per core). Frames are rotated by the display-matrix rotation and resized to the backbone's
square input.
"""
from __future__ import annotations

import bisect
import collections
import concurrent.futures
import dataclasses
import math
import os
import queue
import threading
from typing import Dict, Iterator, List, Optional, Tuple

import av
import numpy as np

from laf.cpu import usable_cores
from laf.ingest.rejects import machine_fault


class _SeekMissed(Exception):
    """A seek landed after the wanted keyframe (or nowhere known): decode from the start instead."""


class MediaError(Exception):
    """A video that cannot be sampled; ``stage`` names where it failed (read/decode/validate/sample)."""

    def __init__(self, stage: str, reason: str):
        super().__init__(reason)
        self.stage = stage
        self.reason = reason


class NoDecoderError(MediaError):
    """The container has a video stream, but this FFmpeg build cannot decode its codec."""


def video_stream(container):
    """The first moving-picture stream of an open container that FFmpeg can decode; else a
    :class:`MediaError` saying why: no video stream, only an attached cover picture (a music
    file's album art is a one-picture "video" stream), or no decoder for its codec
    (:class:`NoDecoderError`). Shared by files and live streams, which meet the same containers."""
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise MediaError("decode", f"no video stream (streams: {', '.join(kinds)}; audio-only file?)")
    moving = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    if not moving:
        raise MediaError("decode", "no video stream, only an attached cover picture (an audio file?)")
    decodable = [s for s in moving if s.codec_context is not None]  # None: FFmpeg has no decoder for it
    if not decodable:
        raise NoDecoderError("decode", "no decoder for its video codec (unknown to this FFmpeg build)")
    return decodable[0]


@dataclasses.dataclass(frozen=True)
class Sample:
    index: int           # position on the sampling grid
    target: float        # grid time, seconds
    timestamp: float     # presentation time of the frame used, seconds
    image: np.ndarray    # uint8 [size, size, 3] RGB, display orientation

    @property
    def error(self) -> float:
        return self.timestamp - self.target


BLOCK_SAMPLES = 16       # samples per block of groups of pictures decoded by one thread
MAX_DECODE_THREADS = 8   # decode_threads=0: one per core, up to this


@dataclasses.dataclass
class _Packet:
    pts: int
    dts: Optional[int]
    gop: int
    key: bool
    shown: bool      # False: an edit list's discarded lead-in (decoded, never output)
    duration: int


@dataclasses.dataclass
class _Target:
    index: int
    time: float
    want: float          # finalised once a decoded frame at/after this time arrives
    gop: int
    by_key: bool
    best: Optional["av.VideoFrame"] = None
    best_err: float = float("inf")


@dataclasses.dataclass
class _Block:
    modes: Dict[int, Optional[float]]   # group of pictures -> decode-until time (None: keyframe only)
    targets: List[_Target]


class Video:
    """An opened, indexed video: ``duration``, the sampling grid, and ``samples()``.

    Opening demuxes the video stream once (no decoding) to learn every frame's
    presentation time and where the keyframes are, which is what the plan needs.
    """

    def __init__(self, path: str, fps: float = 1.0, size: int = 224,
                 keyframe_window: float = 0.5, ref_tolerance: float = 0.25, decode_threads: int = 0,
                 max_duration: Optional[float] = None):
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path, self.fps, self.size = path, float(fps), int(size)
        self.keyframe_window, self.ref_tolerance = keyframe_window, ref_tolerance
        if decode_threads < 0:
            raise ValueError(f"decode_threads must be >= 0, got {decode_threads}")
        self.decode_threads = int(decode_threads) or min(MAX_DECODE_THREADS, usable_cores())
        self._count_lock = threading.Lock()
        self.decoded_frames = 0  # frames the decoder produced so far (the cost samples() paid)
        self.damaged = set()  # times (s) of the packets the decoder refused as invalid data (skipped)
        self.seek_misses = 0  # blocks read from the file's start because a seek could not land on them
        self._index()
        if max_duration is not None and self.duration > max_duration:  # before the plan, which is per sample:
            # a corrupt timestamp claiming 1e9 s would allocate for that many samples
            raise MediaError("validate", f"oversized: {self.duration:.0f} s is longer than"
                                         f" max_duration={max_duration:.0f} s")
        self._plan()

    # --- probing ---------------------------------------------------------------------
    def _open(self):
        try:
            # absolute: FFmpeg takes "Sports:Diving/v1.mp4" or "10:30:00.mp4" for a protocol ("Protocol not found");
            # tags written in another encoding than UTF-8 (a Latin-1 title) are no reason to refuse the picture
            container = av.open(os.path.abspath(self.path), metadata_errors="replace")
        except FileNotFoundError:
            raise MediaError("read", "file not found") from None
        except (PermissionError, IsADirectoryError, NotADirectoryError) as e:  # the file, not its content
            raise MediaError("read", f"cannot read the file: {_reason(e)}") from None
        except (av.FFmpegError, UnicodeDecodeError) as e:
            raise _media_error("decode", f"not a readable media file (truncated or wrong type?): {_reason(e)}",
                               e) from None
        try:
            stream = video_stream(container)
        except MediaError:
            container.close()
            raise
        stream.codec_context.thread_type = "NONE"  # FFmpeg's threads cost CPU per frame; blocks parallelise
        return container, stream

    def _index(self) -> None:
        try:
            size = os.path.getsize(self.path)
        except OSError as e:
            raise _media_error("read", f"cannot read the file: {_reason(e)}", e) from None
        if size == 0:
            raise MediaError("read", "zero-byte file")
        container, stream = self._open()
        packets: List[_Packet] = []
        try:
            for pkt, pts, gop in _packets(container, stream):
                packets.append(_Packet(pts, pkt.dts, gop, bool(pkt.is_keyframe), not pkt.is_discard, pkt.duration or 0))
        except av.FFmpegError as e:
            raise _media_error("decode", f"corrupt or truncated file after {len(packets)} packets: {_reason(e)}",
                               e) from None
        finally:
            demuxer = container.format.name
            self._seekable = demuxer not in UNSEEKABLE_FORMATS
            declared, from_container = _declared_duration(container, stream)
            self._time_base = float(stream.time_base)
            container.close()
        dropped = [p.pts for p in packets if p.gop < 0]
        packets = [p for p in packets if p.gop >= 0]  # frames before the first keyframe cannot decode
        if not packets and demuxer in RAW_FORMATS:
            raise MediaError("decode", f"{untimed(demuxer)}; put it in a container at its real rate, e.g. ffmpeg"
                                       " -r RATE -i IN -c copy OUT.mp4")
        if not packets:
            raise MediaError("decode", "no decodable video frames (truncated file or zero-frame stream)")
        tb = self._time_base
        shown = [p for p in packets if p.shown] or packets
        _check_times_run_on(shown, tb)  # the shown ones: an edit list's cut discards frames on both sides
        self._start = min(p.pts for p in shown)
        self.frame_times = np.unique([(p.pts - self._start) * tb for p in shown])
        self.key_times = np.unique([(p.pts - self._start) * tb for p in shown if p.key])
        self._gop_of = {(p.pts - self._start) * tb: p.gop for p in packets}
        self._key_pts = {p.gop: p.pts for p in packets if p.key}
        self._gop_at_key = {p.pts: p.gop for p in packets if p.key}
        # an open GOP's leading frames (shown before its keyframe, sent after it) reference the group
        # before, and decoding skips them: no sample may plan on one
        self._leading = {(p.pts - self._start) * tb for p in shown if not p.key and p.pts < self._key_pts[p.gop]}
        # where to seek for a group: some demuxers (MPEG-TS) seek by dts, which B-frames put before pts
        self._seek_to = {p.gop: min(p.pts, p.dts if p.dts is not None else p.pts) for p in packets if p.key}
        spacing = np.diff(self.frame_times)
        # how far from a frame the targets it may serve lie: a sampling interval, or the widest gap
        final = max(shown, key=lambda p: p.pts).duration * tb
        last = final if final > 0 else (float(np.median(spacing)) if spacing.size else 0.0)
        self._reach = max(1.0 / self.fps, float(spacing.max()) if spacing.size else 0.0, last)
        self.duration = float(self.frame_times[-1] + last)
        # the declared length may count time before the first decodable frame: the container's where it
        # ends (Matroska's, for a picture that starts late), a stream's its frames before the first
        # keyframe (a recording or stream copy cut mid-group). Short of both that and the frames' length
        # is truncated
        late = max(self._start * tb, 0.0) if from_container else max(self._start - min(dropped, default=self._start),
                                                                      0) * tb
        if declared and self.duration + late < declared - max(1.0, 2.0 / self.fps):
            raise MediaError("decode", f"truncated file: frames end at {self.duration:.2f} s of a"
                                       f" declared {declared:.2f} s")

    # --- planning --------------------------------------------------------------------
    def _plan(self) -> None:
        interval = 1.0 / self.fps
        n = max(1, int(np.ceil(self.duration * self.fps - 1e-9)))
        self.targets = np.arange(n, dtype=np.float64) * interval
        keys = list(self.key_times)
        frames = [f for f in self.frame_times if f not in self._leading] or list(self.frame_times)
        self._targets: List[_Target] = []
        self._by_gop: Dict[int, List[_Target]] = collections.defaultdict(list)
        self._modes: Dict[int, Optional[float]] = {}  # gop -> decode-until time (None: keyframe only)
        for i, t in enumerate(self.targets):
            key = _nearest(keys, t) if keys else None  # a stream-copy cut may show no keyframe at all
            if key is not None and abs(key - t) < self.keyframe_window * interval - 1e-9:
                gop = self._gop_of[key]
                self._targets.append(_Target(i, t, key, gop, True))
                self._by_gop[gop].append(self._targets[-1])
                self._modes.setdefault(gop, None)
            else:
                frame = _nearest(frames, t)
                gop = self._gop_of[frame]
                self._targets.append(_Target(i, t, frame, gop, False))
                self._by_gop[gop].append(self._targets[-1])
                self._modes[gop] = max(self._modes.get(gop) or 0.0, frame)

    # --- decoding --------------------------------------------------------------------
    def samples(self) -> Iterator[Sample]:
        """Yield one ``Sample`` per grid time, in order; raises ``MediaError`` on decode failure.

        The plan is decoded in runs of consecutive groups of pictures ("blocks"), each after a
        seek to its first keyframe and finished (re-decodes included) before it is yielded, so
        memory holds a block, not a video. With several decode threads, blocks are decoded in
        parallel, each thread with its own demuxer and single-threaded decoder, and yielded in
        order, at most two per thread ahead.
        """
        blocks = self._blocks()
        if len(blocks) == 1:
            yield from self._block_samples(blocks[0], None)
            return
        local, opened = threading.local(), []

        def run(block: _Block) -> List[Sample]:
            if not hasattr(local, "container"):
                local.container = self._open()
                opened.append(local.container[0])
            try:
                return list(self._block_samples(block, local.container))
            except _SeekMissed:  # this demuxer cannot land on the group: read from the file's start
                with self._count_lock:
                    self.seek_misses += 1
                return list(self._block_samples(block, None))

        if self.decode_threads == 1:
            try:
                for block in blocks:
                    yield from run(block)
            finally:
                for container in opened:
                    container.close()
            return
        pool = concurrent.futures.ThreadPoolExecutor(self.decode_threads, thread_name_prefix="decode")
        try:
            inflight = collections.deque()
            for block in blocks:
                inflight.append(pool.submit(run, block))
                if len(inflight) >= 2 * self.decode_threads:
                    yield from inflight.popleft().result()
            while inflight:
                yield from inflight.popleft().result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            for container in opened:
                container.close()

    def _blocks(self) -> List["_Block"]:
        """The plan cut into runs of whole groups of pictures of about ``BLOCK_SAMPLES`` samples
        (one run, read from the file's start, where seeking cannot be trusted). A group's samples
        never span two blocks."""
        blocks: List[_Block] = []
        modes: Dict[int, Optional[float]] = {}
        targets: List[_Target] = []
        size = BLOCK_SAMPLES if self._seekable else float("inf")
        for gop in sorted(self._modes):
            modes[gop] = self._modes[gop]
            targets.extend(self._by_gop[gop])
            if len(targets) >= size:
                blocks.append(_Block(modes, targets))
                modes, targets = {}, []
        if targets:
            blocks.append(_Block(modes, targets))
        return blocks

    def _block_samples(self, block: "_Block", opened) -> Iterator[Sample]:
        """Samples of one block, in order. ``opened``: (container, stream) to seek in; None
        decodes from the start of the file with a container of its own."""
        pending = {t.index: t for t in block.targets}
        for t in block.targets:  # a second samples() call starts afresh
            t.best, t.best_err = None, float("inf")
        ready: Dict[int, Sample] = {}
        emitted, seen = min(pending), -1.0
        # one pass over a whole video (a format that cannot seek) decodes every frame it plans: a sample
        # too far from the decoded ones would wait, with every later one, for a second pass
        skip_nonref = self.ref_tolerance > 0 and self._seekable
        for time, frame in self._decode(block.modes, skip_nonref, opened):
            seen = max(seen, time)
            for t in self._offer(time, frame, pending):
                if seen >= t.want and t.best is not None and (t.by_key or not self._too_far(t)):
                    ready[t.index] = self._finish(pending.pop(t.index))
            while emitted in ready:
                yield ready.pop(emitted)
                emitted += 1
        # a sample that got no frame at all: its keyframe is no restart point (intra refresh: the
        # decoder outputs nothing until the refresh has swept the picture) or was damaged; its group
        # is decoded in full
        redo: Dict[int, Optional[float]] = {}
        for t in pending.values():
            if t.best is None:
                redo[t.gop] = float("inf")
            elif not t.by_key and self._too_far(t):
                redo.setdefault(t.gop, block.modes[t.gop])
        if redo:  # a skipped non-reference frame was needed after all: decode those groups in full
            again = {gop: [t for t in self._by_gop[gop] if t.index in pending] for gop in redo}
            redone = [t for targets in again.values() for t in targets]
            for t in redone:
                t.best, t.best_err = None, float("inf")
            nearest: Dict[int, Tuple[float, av.VideoFrame]] = {}  # any frame of the group, however far
            for time, frame in self._decode(redo, False, opened):
                self._offer(time, frame, pending)
                for t in again.get(self._gop_of.get(time), ()):
                    if t.index not in nearest or abs(time - t.time) < nearest[t.index][0]:
                        nearest[t.index] = (abs(time - t.time), frame)
            for t in redone:
                if t.best is None and t.index in nearest:  # where damage left no frame near it
                    t.best_err, t.best = nearest[t.index]
        for index in sorted(pending):
            t = pending[index]
            if t.best is None:
                damaged = sum(1 for d in self.damaged if self._gop_of.get(d) == t.gop)  # this group's: known here
                raise MediaError("decode", f"no frame could be decoded near t={t.time:.2f} s"
                                           + (f" ({damaged} damaged packets in its group)" if damaged else ""))
            ready[index] = self._finish(pending.pop(index))
        for index in sorted(ready):
            yield ready[index]

    def _too_far(self, t: _Target) -> bool:
        return t.best is None or t.best_err > abs(t.want - t.time) + self.ref_tolerance / self.fps + 1e-9

    def _offer(self, time: float, frame: av.VideoFrame, pending: Dict[int, _Target]) -> List[_Target]:
        """Make ``frame`` the candidate of the nearby pending targets it is closer to; returns
        those nearby targets. Only a target's own group of pictures (and, for a keyframe
        target, only its keyframe) supplies its frame, so the result does not depend on which
        neighbouring groups happen to be decoded alongside (e.g. by how the plan is split)."""
        gop = self._gop_of.get(time)
        reach = self._reach
        lo = max(0, int(np.ceil((time - reach) * self.fps)))
        hi = int(np.floor((time + reach) * self.fps))
        touched = []
        for index in range(lo, hi + 1):
            t = pending.get(index)
            if t is None:
                continue
            touched.append(t)
            if gop != t.gop or (t.by_key and time != t.want):
                continue
            err = abs(time - t.time)
            if err < t.best_err:
                t.best, t.best_err = frame, err
        return touched

    def _finish(self, t: _Target) -> Sample:
        frame = t.best
        return Sample(t.index, float(t.time), float((frame.pts - self._start) * self._time_base),
                      rgb_image(frame, self.size))

    def _decode(self, modes: Dict[int, Optional[float]], skip_nonref: bool, opened=None):
        """(time, frame) for the planned part of each group of pictures, in one forward pass:
        from the file's start, or (``opened``) from the first group's keyframe after a seek."""
        container, stream = opened or self._open()
        cc = stream.codec_context
        done, seen, decoded, last, sent = set(), -1.0, 0, max(modes), False
        try:
            if opened is not None:
                self._seek(container, stream, min(modes))
            for pkt, pts, gop in _packets(container, stream, self._gop_at_key):
                if opened is not None and pkt.is_keyframe and pts not in self._gop_at_key:
                    # after a seek the demuxer gave a keyframe another time than the index did (MPEG-PS:
                    # the next frame's), so its group cannot be told: read from the file's start instead
                    raise _SeekMissed(gop)
                if gop > last:  # packets come in decoding order: the plan's groups are all sent
                    break
                if gop not in modes or gop in done:
                    continue
                until = modes[gop]
                if until is None and not pkt.is_keyframe:
                    continue  # keyframe only; the rest of the group is never sent
                if not pkt.is_keyframe and pts < self._key_pts[gop]:
                    continue  # leading frames of an open GOP reference the previous group
                frames = []
                if pkt.is_keyframe:
                    if sent:  # each group starts as after a seek: the groups between were not sent,
                        frames = cc.decode(None)  # and an open GOP's keyframe is no IDR (frame_num gaps)
                        cc.flush_buffers()
                    cc.skip_frame = "NONKEY" if until is None else "NONREF" if skip_nonref else "DEFAULT"
                sent = True
                for frame in frames + self._decode_packet(cc, pkt, pts):
                    decoded += 1
                    time = self._time(frame)
                    seen = max(seen, time)
                    yield time, frame
                if until is None or seen >= until:
                    done.add(gop)
                    if len(done) == len(modes):
                        break
            cc.skip_frame = "DEFAULT"
            for frame in cc.decode(None):
                decoded += 1
                yield self._time(frame), frame
        except av.FFmpegError as e:
            raise _media_error("decode", f"decoding failed near t={max(seen, 0.0):.2f} s: {_reason(e)}", e) from None
        finally:
            with self._count_lock:
                self.decoded_frames += decoded
            if opened is None:
                container.close()

    def _decode_packet(self, cc, pkt, pts: int) -> List["av.VideoFrame"]:
        """A packet's frames; none for a damaged packet (FFmpeg's invalid data), whose time is kept
        in ``damaged``. Why not reject the video: one bad packet of an hour-long web video would
        lose it all, while the decoder conceals the damage in the frames after it (ffmpeg does
        the same). A sample whose group then yields no frame at all still fails the video."""
        try:
            return cc.decode(pkt)
        except av.error.InvalidDataError:
            with self._count_lock:
                self.damaged.add((pts - self._start) * self._time_base)  # as ``_gop_of`` keys a time
            return []

    def _seek(self, container, stream, gop: int) -> None:
        """Make demuxing start at or before ``gop``'s keyframe; ``_SeekMissed`` if it cannot."""
        container.seek(self._seek_to[gop], stream=stream, backward=True)
        first = next(_packets(container, stream), None)
        landed = None if first is None else self._gop_of.get((first[1] - self._start) * self._time_base)
        if landed is None or landed > gop:
            raise _SeekMissed(gop)
        container.seek(self._seek_to[gop], stream=stream, backward=True)  # again: the peek consumed a packet

    def _time(self, frame: av.VideoFrame) -> float:
        pts = frame.pts if frame.pts is not None else frame.dts
        return (pts - self._start) * self._time_base


def _media_error(stage: str, reason: str, cause: BaseException) -> MediaError:
    """The ``MediaError`` for an FFmpeg or OS error; one that is the machine's, not this video's (out
    of memory or disk, ``rejects.machine_fault``), is raised as it is instead, to fail the run."""
    if machine_fault(cause):
        raise cause
    return MediaError(stage, reason)


def feed(out: "queue.Queue", item, stop: threading.Event) -> bool:
    """Put ``item`` on a bounded queue from a decoding thread, giving up (False) once ``stop`` is set:
    a consumer that left (an error, or a caller that stopped reading) would leave a plain ``put``
    blocked forever, holding the decoder and its file or connection."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def rgb_image(frame: av.VideoFrame, size: int) -> np.ndarray:
    """The backbone's input: uint8 [size, size, 3] RGB in display orientation (rotation metadata
    applied); shared by file sampling and live streams so both feed the backbone the same pixels."""
    rgb = frame.reformat(width=size, height=size, format="rgb24", interpolation="BILINEAR").to_ndarray()
    axes = _display_axes(frame)
    if axes is not None:  # a quarter turn or a mirror, as the display matrix says
        transpose, flip_rows, flip_columns = axes
        shown = rgb.transpose(1, 0, 2) if transpose else rgb
        shown = shown[::-1] if flip_rows else shown
        shown = shown[:, ::-1] if flip_columns else shown
        return np.ascontiguousarray(shown)
    quarter_turns = int(round((frame.rotation or 0) / 90.0)) % 4  # another angle: the nearest quarter turn
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _display_axes(frame: av.VideoFrame) -> Optional[Tuple[bool, bool, bool]]:
    """(transpose, flip rows, flip columns) that show the frame as its display matrix says, when that is
    axis-aligned; None without one, or at another angle. Why not ``frame.rotation`` alone: a mirrored
    picture (a phone's front camera) reads as a rotation of -180 degrees, which turned it upside down.
    The matrix maps a pixel's (x, y) to (x, y) @ [[a, b], [c, d]] (FFmpeg's layout, 16.16 fixed point)."""
    matrix = next((bytes(data) for data in frame.side_data if data.type.name == "DISPLAYMATRIX"), None)
    if matrix is None or len(matrix) != 36:
        return None
    a, b, _, c, d = np.frombuffer(matrix, "<i4")[:5].tolist()
    if b == c == 0 and a and d:  # x' = a x, y' = d y
        return False, d < 0, a < 0
    if a == d == 0 and b and c:  # x' = c y, y' = b x: rows become columns
        return True, b < 0, c < 0
    return None


def _reason(error: Exception) -> str:
    """An FFmpeg or OS error without the file name: the rejected record names its video, and a
    remote video is opened from a temporary copy whose random name would change between runs."""
    return getattr(error, "strerror", None) or str(error)


def _declared_duration(container, stream) -> Tuple[Optional[float], bool]:
    """The video stream's own declared length in seconds (None when the file does not say), and
    whether it counts from 0 rather than from the picture's start: the container's, or a Matroska
    stream's ``DURATION`` tag (Matroska declares where the file or stream ends). Why not the
    container's duration where the stream has one: it spans every stream, so a sound track that
    outlasts the picture, or a picture that starts late, would read as a truncated file."""
    if stream.duration:
        return float(stream.duration * stream.time_base), False
    tagged = _duration_tag(stream.metadata or {})
    if tagged:  # Matroska's per-stream tag (ffmpeg and mkvmerge write it): where the picture ends
        return tagged, True
    if len(container.streams) == 1 and container.duration:
        return container.duration / av.time_base, True
    return None, False


def _duration_tag(metadata: Dict[str, str]) -> Optional[float]:
    """Seconds of a Matroska ``DURATION`` tag (``HH:MM:SS.fffffffff``; ``DURATION-eng`` with a
    language), None without a readable one. Why: Matroska streams declare no length of their own,
    so without it a truncated file with a sound track passed as a whole, shorter video."""
    tags = sorted((key.upper() != "DURATION", key) for key in metadata if key.upper().split("-", 1)[0] == "DURATION")
    for _, key in tags:  # the plain tag first: a copy (ffmpeg -c copy) rewrites it and keeps DURATION-eng as it was
        try:
            hours, minutes, seconds = str(metadata[key]).strip().split(":")
            total = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        except ValueError:
            continue
        if math.isfinite(total) and total > 0:
            return total
    return None


def untimed(demuxer: str) -> str:
    """Why a raw elementary stream (no container: a DVR's ``.h264``, a camera's raw TCP feed) cannot
    be sampled: nothing says when its frames are shown."""
    return f"a raw {demuxer} stream: its frames carry no times, and its rate is not known"


# demuxers of raw elementary streams: their packets carry no times, and the rate FFmpeg assumes (25 fps)
# need not be the stream's
RAW_FORMATS = {"h264", "hevc", "m4v", "mpegvideo", "vc1", "cavsvideo", "dirac", "vvc", "avs2", "avs3"}
# demuxers whose seeks land on keyframes with other times than a pass from the start gives them
# (MPEG-PS: the next frame's), so a group cannot be told after a seek; their videos decode in one pass
UNSEEKABLE_FORMATS = {"mpeg"}
REORDER_FRAMES = 20  # frames in a row a picture may come behind an earlier-sent one (B-frames: <= 17)


def _check_times_run_on(packets: List[_Packet], time_base: float) -> None:
    """Refuse times that restart in decoding order: two streams joined end to end (``cat a.ts b.ts``),
    each from 0. Their repeated times would merge, and the record would hold the first part's length
    with samples from both, no error said. Why counted in frames, not seconds: B-frames before a long
    pause (a VFR still) come behind the frame after it by the pause, but only for their own count; after
    a restart every frame does, until the second part passes the first's end."""
    times = np.asarray([p.pts for p in packets], np.float64) * time_base
    latest = np.maximum.accumulate(times)
    index = np.arange(len(times))
    ahead = np.maximum.accumulate(np.where(times >= latest, index, -1))  # the last frame at the front so far
    over = np.flatnonzero(index - ahead > REORDER_FRAMES)
    if over.size:
        run = np.arange(int(ahead[over[0]]) + 1, int(over[0]) + 1)  # the frames behind, in a row
        i = int(run[np.argmax(latest[run] - times[run])])
        raise MediaError("decode", f"its times jump back by {latest[i] - times[i]:.1f} s after"
                                   f" t={latest[i] - times[0]:.2f} s (streams joined end to end?); re-mux it with"
                                   " ffmpeg (e.g. ffmpeg -i IN -c copy OUT.mp4), which carries the times on")


def _packets(container, stream, gop_at_key: Optional[Dict[int, int]] = None):
    """(packet, pts, group-of-pictures index) of each non-empty packet; the index counts
    keyframes, so packets before the first keyframe get -1 (they cannot be decoded).
    ``gop_at_key`` (keyframe pts -> index, from a full pass) keeps the count right after a seek."""
    gop = -1
    for pkt in _unpacked(container.demux(stream), stream):
        pts = pkt.pts if pkt.pts is not None else pkt.dts
        if pts is None or pkt.size == 0:
            continue
        if pkt.is_keyframe:
            gop = gop_at_key.get(pts, gop + 1) if gop_at_key else gop + 1
        yield pkt, pts, gop


def _unpacked(packets: Iterator[av.Packet], stream) -> Iterator[av.Packet]:
    """The packets, those of MPEG-4 Part 2 with packed B-frames unpacked (``mpeg4_unpack_bframes``) and
    flagged keyframes only where intra coded. Why: Xvid/DivX AVIs pack a B-frame into the packet before
    and put a few-byte placeholder after each I-frame, which the AVI index flags as a keyframe; a group
    of pictures started there decoded without its I-frame (grey garbage, no error)."""
    if stream.codec_context.name != "mpeg4":
        yield from packets
        return
    from av.bitstream import BitStreamFilterContext

    unpack = BitStreamFilterContext("mpeg4_unpack_bframes", stream)
    for raw in packets:
        if raw.size == 0:  # the demuxer's final flush packet
            continue
        for pkt in unpack.filter(raw):
            if pkt.is_keyframe and not _mpeg4_intra(bytes(pkt)):
                pkt.is_keyframe = False
            yield pkt
    yield from unpack.filter(None)


_VOP_START = b"\x00\x00\x01\xb6"


def _mpeg4_intra(data: bytes) -> bool:
    """Whether an MPEG-4 Part 2 packet's first picture (VOP) is intra coded."""
    at = data.find(_VOP_START)
    return at < 0 or at + 4 >= len(data) or data[at + 4] >> 6 == 0  # vop_coding_type 0: I (no VOP: as flagged)


def _nearest(sorted_values: List[float], t: float) -> float:
    i = bisect.bisect_left(sorted_values, t)
    candidates = sorted_values[max(0, i - 1): i + 1]
    return min(candidates, key=lambda v: (abs(v - t), v))

