"""laf.ingest.media on real encoded clips: PTS-grid sampling, VFR, rotation, economy, bad files."""
import fractions
import os
import shutil

import numpy as np
import pytest

import video_fixtures as vf
from laf.ingest import media
from laf.ingest.media import MediaError, Video, _Block


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return vf.make_set(str(tmp_path_factory.mktemp("media")))


def content_time(sample) -> float:
    """The presentation time encoded in the frame's brightness (left half, below the marker)."""
    return vf.time_of_level(sample.image[24:, :12].mean())


@pytest.mark.parametrize("name", ["h264", "vp9", "mjpeg"])
def test_samples_follow_the_grid_and_report_true_timestamps(clips, name):
    video = Video(clips[name], fps=2.0, size=32)
    samples = list(video.samples())
    assert [s.index for s in samples] == list(range(int(np.ceil(video.duration * 2.0 - 1e-9))))
    assert len(samples) >= 7
    for s in samples:
        assert s.image.shape == (32, 32, 3) and s.image.dtype == np.uint8
        assert s.target == pytest.approx(s.index / 2.0)
        assert abs(s.error) < 0.25 + 0.125 + 1e-6  # keyframe window or reference tolerance
        assert content_time(s) == pytest.approx(s.timestamp, abs=0.15)  # the timestamp is the frame's own


def test_a_video_longer_than_max_duration_is_refused_before_its_sampling_plan(clips, monkeypatch):
    """A corrupt timestamp can claim a billion seconds: the plan, one entry per sample, must not be made."""
    def no_plan(self):
        raise AssertionError("planned")

    duration = Video(clips["h264"], fps=2.0, size=32).duration
    monkeypatch.setattr(Video, "_plan", no_plan)
    with pytest.raises(MediaError, match=r"oversized: \d+ s is longer than max_duration=1 s") as err:
        Video(clips["h264"], fps=2.0, size=32, max_duration=1.0)
    assert err.value.stage == "validate" and duration > 1.0


def test_vfr_exact_sampling_uses_the_nearest_presentation_time(clips):
    times = vf.vfr_times()
    video = Video(clips["vfr"], fps=1.0, size=32, keyframe_window=0.0, ref_tolerance=0.0)
    samples = list(video.samples())
    assert len(samples) == 8  # frames end at 8.0 s: the last frame's own duration, not the longest gap's
    for s in samples:
        nearest = times[np.argmin(np.abs(times - s.target))]
        assert s.timestamp == pytest.approx(nearest, abs=1e-3)
        assert content_time(s) == pytest.approx(nearest, abs=0.15)
    # the sparse 2 fps stretch forces real errors: t=2.5 is a frame but 3.25 would not be
    assert max(abs(s.error) for s in samples) < 0.26


def test_a_held_frame_does_not_stretch_the_end_of_the_video(tmp_path):
    """A frame shown for 10 s mid-video (variable frame rate) once set every frame's length, so a
    14 s video sampled 24 targets, the last ten past its end."""
    times = np.concatenate([np.arange(0, 2, 0.1), [2.0], np.arange(12, 14, 0.1)])
    video = Video(vf.encode(str(tmp_path / "hold.mp4"), "libx264", times, options={"g": "10"}), fps=1.0, size=32)
    assert video.duration == pytest.approx(13.93, abs=0.05) and len(video.targets) == 14  # 13.9 s + 1/30 s
    assert len(list(video.samples())) == 14


@pytest.mark.parametrize("gop", ["30", "250"])  # 250: the only keyframe is in the hidden lead-in
def test_a_clip_cut_with_stream_copy_is_read_from_its_cut(tmp_path, gop):
    """``ffmpeg -ss 1.5 -c copy`` starts at the keyframe before the cut and hides the lead-in with an
    edit list (discarded packets): they do not set the start, and the first sample is the cut's frame."""
    import subprocess

    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg (make test installs it)")
    source = vf.encode(str(tmp_path / "src.mp4"), "libx264", vf.cfr(6.0),
                       options={"g": gop, "bf": "0", "sc_threshold": "0"})
    cut = str(tmp_path / "cut.mp4")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-ss", "1.5", "-i", source, "-c", "copy", cut],
                   check=True)
    video = Video(cut, fps=1.0, size=32)
    samples = list(video.samples())
    assert video.duration == pytest.approx(4.5, abs=0.15) and len(samples) == 5
    assert content_time(samples[0]) == pytest.approx(1.5, abs=0.15)


def test_rotation_metadata_is_applied(clips):
    upright = next(Video(clips["h264"], size=32).samples()).image
    rotated = next(Video(clips["rotated"], size=32).samples()).image
    assert upright[:4, :4].mean() > 200 and upright[-4:, :4].mean() < 100  # marker top-left
    # display matrix rotates 90 degrees counter-clockwise: the marker ends up bottom-left
    assert rotated[-4:, :4].mean() > 200 and rotated[:4, :4].mean() < 100


@pytest.mark.parametrize("matrix, shown", [
    ((-65536, 0, 0, 0, 65536, 0, vf.W << 16, 0, 1 << 30), lambda x: x[:, ::-1]),  # mirrored (a front camera)
    ((0, 65536, 0, 65536, 0, 0, 0, 0, 1 << 30), lambda x: x.transpose(1, 0, 2)),  # a quarter turn, mirrored
], ids=["mirror", "turn-and-mirror"])
def test_a_mirroring_display_matrix_mirrors_the_picture(tmp_path, matrix, shown):
    """Only the rotation was read from the display matrix: a mirror reads as -180 degrees, and the
    picture was turned upside down instead."""
    plain = vf.encode(str(tmp_path / "plain.mp4"), "libx264", vf.cfr(1.0))
    mirrored = vf.encode(str(tmp_path / "mirrored.mp4"), "libx264", vf.cfr(1.0), display_matrix=matrix)
    upright = next(Video(plain, size=32).samples()).image
    np.testing.assert_array_equal(next(Video(mirrored, size=32).samples()).image, shown(upright))


def test_keyframe_only_decoding_when_keyframes_are_close(tmp_path):
    path = vf.encode(str(tmp_path / "gop1s.mp4"), "libx264", vf.cfr(6.0), options={"g": "10", "sc_threshold": "0"})
    video = Video(path, fps=1.0, size=32)
    samples = list(video.samples())
    assert len(video.key_times) == 6 and len(samples) == 6
    assert video.decoded_frames == 6  # nothing but the keyframes reached the decoder
    assert all(s.error == pytest.approx(0.0, abs=1e-6) for s in samples)


def test_long_gop_decodes_only_up_to_each_sample(tmp_path):
    path = vf.encode(str(tmp_path / "gop6s.mp4"), "libx264", vf.cfr(6.0), options={"g": "60", "sc_threshold": "0"})
    fast = Video(path, fps=1.0, size=32)
    fast_samples = list(fast.samples())
    exact = Video(path, fps=1.0, size=32, keyframe_window=0.0, ref_tolerance=0.0)
    exact_samples = list(exact.samples())
    assert len(fast.key_times) == 1 and len(fast_samples) == len(exact_samples) == 6
    assert fast.decoded_frames < 60 and exact.decoded_frames <= 60  # the tail after t=5 is never decoded
    assert fast.decoded_frames < exact.decoded_frames  # non-reference frames were skipped
    for s in fast_samples:
        assert abs(s.error) <= 0.25 + 1e-6
        assert content_time(s) == pytest.approx(s.timestamp, abs=0.15)
    assert all(abs(s.error) < 1e-6 for s in exact_samples)


@pytest.mark.parametrize("name,options,fps", [
    # 2 s keyframe interval at 1 fps: keyframe-only and partial-group samples alternate
    ("web.mp4", {"g": "20", "keyint_min": "20", "sc_threshold": "0"}, 1.0),
    # MPEG-TS seeks by dts, which B-frames put before the keyframe's pts
    ("bframes.ts", {"g": "20", "bf": "3", "sc_threshold": "0"}, 1.0),
    # scene-cut keyframes between the fixed ones: samples near group boundaries at 2 fps
    ("scenecut.mp4", {"g": "250", "bf": "3"}, 2.0),
    # open GOPs: keyframes after the first are no IDR, and groups are skipped between samples
    ("opengop.mp4", {"g": "40", "bf": "3", "x264-params": "open-gop=1", "sc_threshold": "0"}, 0.3),
])
def test_parallel_blocks_give_the_serial_samples(tmp_path, name, options, fps):
    path = vf.encode(str(tmp_path / name), "libx264", vf.cfr(60.0), options=options)
    reference = Video(path, fps=fps, size=32)
    whole = list(reference._block_samples(_Block(reference._modes, reference._targets), None))  # one pass
    for threads in (1, 3):  # blocks after seeks, in this thread or in parallel
        video = Video(path, fps=fps, size=32, decode_threads=threads)
        assert len(video._blocks()) > 1
        blocks = list(video.samples())
        assert [s.index for s in blocks] == list(range(int(60 * fps)))
        assert [(s.index, s.timestamp) for s in blocks] == [(s.index, s.timestamp) for s in whole]
        for a, b in zip(whole, blocks):
            np.testing.assert_array_equal(a.image, b.image)
            assert abs(b.error) <= 0.5 / fps + 1e-6
        assert video.decoded_frames == reference.decoded_frames


def test_decoding_stops_after_the_planned_groups(tmp_path):
    """B-frames hold the last planned frame in the decoder; the pass must still stop there, not
    demux the rest of the file once per block."""
    path = vf.encode(str(tmp_path / "short_gops.mp4"), "libx264", vf.cfr(60.0), options={"g": "7", "bf": "3"})
    video = Video(path, fps=1.0, size=32, keyframe_window=0.0, decode_threads=2)
    block = video._blocks()[0]
    container, stream = video._open()
    try:
        frames = list(video._decode(block.modes, True, (container, stream)))
        rest = next((p for p in container.demux(stream) if p.pts is not None), None)
    finally:
        container.close()
    assert frames and rest is not None, "the block's pass read the file to its end"
    assert rest.pts * video._time_base < block.targets[-1].time + 3.0


@pytest.mark.parametrize("at, size, fps, furthest", [
    (0.6, 300, 1.0, 1.0),   # a few packets: samples keep frames of their own group of pictures (g=20 at 10 fps)
    (0.7, 1000, 4.0, 3.0),  # most of a group: a sample redone for a nearer frame falls back to its group's nearest
])
def test_a_damaged_packet_mid_file_is_skipped_not_the_video(tmp_path, at, size, fps, furthest):
    """Bytes overwritten in the middle of the picture data: the decoder refuses those packets, the
    video keeps every sample (the damaged group's take its nearest decodable frame) and says which."""
    path = vf.encode(str(tmp_path / "clean.mp4"), "libx264", vf.cfr(20.0, 10.0), options={"g": "20"},
                     container_options={"movflags": "faststart"})
    data = bytearray(open(path, "rb").read())
    start = int(len(data) * at)
    data[start:start + size] = bytes((i * 37 + 11) % 256 for i in range(size))
    (tmp_path / "damaged.mp4").write_bytes(bytes(data))
    clean, damaged = Video(path, fps=fps, size=32), Video(str(tmp_path / "damaged.mp4"), fps=fps, size=32)
    kept = list(damaged.samples())
    assert [s.index for s in kept] == [s.index for s in clean.samples()] == list(range(int(20 * fps)))
    assert damaged.damaged and not clean.damaged
    assert all(abs(s.error) <= furthest for s in kept)
    for threads in (1, 3):  # blocks, in this thread or in parallel: the same samples
        again = Video(str(tmp_path / "damaged.mp4"), fps=fps, size=32, decode_threads=threads)
        assert len(again._blocks()) > 1
        assert [(s.index, s.timestamp, s.image.tobytes()) for s in again.samples()] == \
            [(s.index, s.timestamp, s.image.tobytes()) for s in kept] and again.damaged == damaged.damaged


@pytest.mark.parametrize("fps", [1.0, 4.0])
def test_a_keyframe_that_is_no_restart_point_gives_its_group_s_nearest_frame(tmp_path, fps):
    """With intra refresh the container flags recovery points as keyframes, yet a decoder started
    there outputs nothing until the refresh has swept the picture: those samples decode their group
    and take its nearest frame, however far (at 4 fps, more than a sample interval)."""
    path = vf.encode(str(tmp_path / "refresh.mp4"), "libx264", vf.cfr(6.0, 25.0), image=vf.moving_image,
                     options={"x264-params": "intra-refresh=1:keyint=50:scenecut=0"})
    video = Video(path, fps=fps, size=32)
    samples = list(video.samples())
    assert [s.index for s in samples] == list(range(int(6 * fps)))
    assert all(abs(s.error) < 1.0 for s in samples) and any(abs(s.error) > 0.25 for s in samples)
    assert not video.damaged


def test_bad_decode_threads():
    with pytest.raises(ValueError, match="decode_threads"):
        Video("unused.mp4", decode_threads=-1)


@pytest.mark.parametrize("name,stage,words", [
    ("zero", "read", "zero-byte"),
    ("audio", "decode", "no video stream"),
    ("truncated", "decode", "no decodable video frames"),  # "truncated" is in the unreadable file's reason too
    ("page", "decode", "not a readable media file"),
])
def test_bad_files_raise_clear_errors(clips, name, stage, words):
    with pytest.raises(MediaError) as info:
        list(Video(clips[name]).samples())
    assert info.value.stage == stage and words in str(info.value)


@pytest.mark.parametrize("codec, suffix", [("libx264", "h264"), ("libx265", "hevc")])
def test_a_raw_elementary_stream_is_named_so(tmp_path, codec, suffix):
    """A CCTV/DVR export (.h264, .hevc) has no container: its packets carry no times, and every
    video was rejected as "truncated file or zero-frame stream"."""
    path = vf.encode(str(tmp_path / f"clip.{suffix}"), codec, vf.cfr(2.0))
    with pytest.raises(MediaError) as info:
        list(Video(path).samples())
    assert info.value.stage == "decode" and f"a raw {suffix} stream: its frames carry no times" in str(info.value)
    assert "ffmpeg -r RATE -i IN -c copy OUT.mp4" in str(info.value)


def test_a_music_file_with_cover_art_is_named_so(tmp_path):
    """Album art is a one-picture video stream (attached_pic): not a video, and not "truncated"."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ffmpeg (make test installs it)")
    with pytest.raises(MediaError) as info:
        list(Video(vf.song_with_cover(str(tmp_path))).samples())
    assert info.value.stage == "decode" and "only an attached cover picture" in str(info.value)


@pytest.mark.parametrize("times", [vf.cfr(4.0), 2.0 + vf.cfr(4.0)], ids=["sound-outlasts-picture", "late-picture"])
def test_a_sound_track_longer_than_the_picture_is_no_truncation(tmp_path, times):
    video = Video(vf.with_sound(str(tmp_path / "clip.mp4"), times, sound_seconds=9.0), fps=1.0, size=32)
    samples = list(video.samples())
    assert video.duration == pytest.approx(4.0, abs=0.2)  # the picture's length, from its first frame
    assert len(samples) == 4
    assert [round(content_time(s) - times[0]) for s in samples] == [0, 1, 2, 3]


def test_missing_file(tmp_path):
    with pytest.raises(MediaError, match="cannot read"):
        Video(str(tmp_path / "absent.mp4"))


@pytest.mark.parametrize("name", ["Sports:Diving/v1.mp4", "2024-01-01T10:30:00.mp4"])
def test_a_relative_path_with_a_colon_is_a_file_not_a_protocol(clips, tmp_path, monkeypatch, name):
    """FFmpeg read "Sports:Diving/..." as a URL of the protocol "Sports": "Protocol not found"."""
    os.makedirs(os.path.dirname(str(tmp_path / name)), exist_ok=True)
    shutil.copy(clips["h264"], str(tmp_path / name))
    monkeypatch.chdir(tmp_path)
    assert len(list(Video(name, fps=1.0).samples())) == 4


def _remuxed_with_title(source: str, path: str, title: bytes) -> str:
    """``source`` with a container title of raw bytes (as written by a tool of another encoding)."""
    import av

    with av.open(source) as src, av.open(path, "w") as out:
        out.metadata["title"] = "X" * len(title)
        stream = out.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    with open(path, "rb") as f:
        data = f.read()
    assert data.count(b"X" * len(title)) == 1
    with open(path, "wb") as f:
        f.write(data.replace(b"X" * len(title), title))
    return path


def test_a_tag_in_another_encoding_than_utf8_is_no_reason_to_refuse_the_video(clips, tmp_path):
    """A Latin-1 title ("caf\\xe9") made PyAV's open fail (UnicodeDecodeError): rejected as "not a readable media file"."""
    path = _remuxed_with_title(clips["h264"], str(tmp_path / "latin1.mp4"), b"caf\xe9 au lait")
    assert len(list(Video(path, fps=1.0).samples())) == 4


def test_a_header_claiming_an_absurd_size_is_the_file_s_rejection_not_the_run_s_failure(clips, tmp_path):
    """FFmpeg refuses to allocate for an stts box of 800 M entries (ENOMEM, a MemoryError in PyAV),
    which failed the whole run, and every rerun."""
    with open(clips["h264"], "rb") as f:
        data = bytearray(f.read())
    at = data.find(b"stts")
    data[at + 8:at + 12] = (0x30000000).to_bytes(4, "big")  # after the box's version and flags
    path = tmp_path / "absurd.mp4"
    path.write_bytes(bytes(data))
    with pytest.raises(MediaError) as info:
        Video(str(path))
    assert info.value.stage == "decode" and "Cannot allocate memory" in info.value.reason


def test_an_xvid_avi_with_packed_b_frames_gives_the_frames_a_plain_decode_shows(tmp_path):
    """Xvid/DivX AVIs pack a B-frame into the packet before and put a placeholder, which the AVI index
    flags as a keyframe, after each I-frame: groups started there decoded without their I-frame, and
    most samples were grey garbage, with no error."""
    import subprocess

    import av

    if shutil.which("ffmpeg") is None or "libxvid" not in subprocess.run(
            ["ffmpeg", "-hide_banner", "-encoders"], capture_output=True, text=True).stdout:
        pytest.skip("needs ffmpeg with libxvid (make test installs it)")
    path = str(tmp_path / "xvid.avi")
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=160x96:rate=25:duration=12", "-c:v", "libxvid", "-bf", "2", "-g", "50", path],
                   check=True)
    with av.open(path) as container:
        stream = container.streams.video[0]
        shown = {frame.pts: frame for frame in container.decode(stream)}  # every frame, in order: as ffmpeg shows them
        start, tb = min(shown), float(stream.time_base)
        plain = {round((pts - start) * tb, 3): frame for pts, frame in shown.items()}
        samples = list(Video(path, fps=1.0).samples())
        assert len(samples) == 12
        for sample in samples:
            np.testing.assert_array_equal(sample.image, media.rgb_image(plain[round(sample.timestamp, 3)],
                                                                        sample.image.shape[0]))


def test_mpeg_ps_decodes_in_one_pass_and_a_seek_that_misses_a_keyframe_reads_from_the_start(tmp_path):
    """MPEG-PS gives a keyframe another time after a seek than in a pass from the start (the next
    frame's), so its group was counted from 0 and the video rejected ("no frame could be decoded").
    Its videos decode in one pass; forced to seek, each such block reads from the file's start."""
    path = vf.encode(str(tmp_path / "ps.mpg"), "mpeg2video", vf.cfr(60.0, rate=25.0), options={"g": "100"},
                     time_base=fractions.Fraction(1, 25))
    reference = Video(path, fps=1.0, size=32)
    whole = list(reference._block_samples(_Block(reference._modes, reference._targets), None))
    assert len(reference._blocks()) == 1 and len(whole) == 60
    video = Video(path, fps=1.0, size=32, decode_threads=2)
    video._seekable = True  # as for any other format: blocks after seeks
    assert len(video._blocks()) > 1
    blocks = list(video.samples())
    assert video.seek_misses >= 1  # the blocks after a missed seek were read from the start
    assert [(s.index, s.timestamp) for s in blocks] == [(s.index, s.timestamp) for s in whole]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(whole, blocks))


def test_no_sample_plans_on_an_open_gop_s_leading_frame(tmp_path):
    """Decoding skips the frames an open GOP shows before its keyframe (they reference the group
    before), so a sample planned on one waited for a second pass, and in a one-pass MPEG-PS video
    every later sample waited with it: the whole video's samples in memory."""
    path = vf.encode(str(tmp_path / "open.mpg"), "mpeg2video", vf.cfr(30.0, rate=25.0), options={"g": "15", "bf": "2"},
                     time_base=fractions.Fraction(1, 25))
    video = Video(path, fps=2.0, size=16)
    assert video._leading and not any(t.want in video._leading for t in video._targets)
    samples = list(video.samples())
    assert len(samples) == 60 and all(abs(s.error) <= 0.25 + 1e-6 for s in samples)  # a keyframe within 1/4 s serves


def test_an_edit_list_of_several_entries_is_no_restart(tmp_path):
    """A trim without re-encoding keeps the cut's group and discards its frames before the cut: those
    discarded frames lie behind the shown ones in decoding order, many in a row."""
    src = vf.encode(str(tmp_path / "src.mp4"), "libx264", vf.cfr(20.0, rate=30.0),
                    options={"g": "60", "keyint_min": "60", "sc_threshold": "0"})
    path = vf.with_edit_list(src, str(tmp_path / "trimmed.mp4"), [(5.0, 0.0), (5.0, 10.5)])
    video = Video(path, fps=1.0, size=16)
    assert video.duration == pytest.approx(10.0, abs=0.1) and len(list(video.samples())) == 10


def test_streams_joined_end_to_end_are_refused_not_merged(tmp_path):
    """``cat a.ts b.ts``: both parts' times start at 0; merged, the record held the first part's
    length with samples from both."""
    parts = [vf.encode(str(tmp_path / f"p{i}.ts"), "libx264", vf.cfr(20.0)) for i in range(2)]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(open(p, "rb").read() for p in parts))
    assert len(list(Video(parts[0], fps=1.0, size=32).samples())) == 20
    with pytest.raises(MediaError) as info:
        Video(str(joined), fps=1.0, size=32)
    assert info.value.stage == "decode" and "its times jump back by 19.9 s after t=19.90 s" in str(info.value)


def test_a_picture_that_starts_late_in_a_video_only_mkv_is_no_truncation(tmp_path):
    """Matroska declares where the file ends: 25 s for 20 s of picture from 5 s on. An MP4's stream
    declares its length, so one that starts late and is cut short is still truncated."""
    path = vf.encode(str(tmp_path / "late.mkv"), "libx264", 5.0 + vf.cfr(20.0))
    video = Video(path, fps=1.0, size=32)
    assert video.duration == pytest.approx(20.0, abs=0.2) and len(list(video.samples())) == 20
    late = vf.encode(str(tmp_path / "late.mp4"), "libx264", 30.0 + vf.cfr(30.0),
                     container_options={"movflags": "faststart"})
    assert Video(late, fps=1.0, size=32).duration == pytest.approx(30.0, abs=0.2)
    with pytest.raises(MediaError, match="truncated file"):
        Video(vf.truncated(late, str(tmp_path / "cut.mp4"), keep=0.7), fps=1.0, size=32)


def test_a_copy_that_starts_mid_group_is_no_truncation(tmp_path):
    """A stream copy from 2.4 s into a 4 s group: the stream declares 17.6 s from its first packet,
    and 1.6 s of it cannot decode (before the first keyframe). Counted from that keyframe, the
    video is whole; before, it was refused as "truncated" (frames end at 16.00 s of 17.60 s)."""
    src = vf.encode(str(tmp_path / "src.mp4"), "libx264", vf.cfr(20.0),
                    options={"g": "40", "keyint_min": "40", "sc_threshold": "0", "bf": "0"})
    for container_format, ext in (("mp4", "mp4"), ("mpegts", "ts"), ("matroska", "mkv")):
        cut = vf.copy_from_packet(src, str(tmp_path / f"cut.{ext}"), 24, container_format)
        video = Video(cut, fps=2.0, size=32)
        assert video.duration == pytest.approx(16.0, abs=0.1) and len(list(video.samples())) == 32, ext
    with pytest.raises(MediaError, match="truncated file"):  # still told from a cut that really is short
        Video(vf.truncated(str(tmp_path / "cut.mkv"), str(tmp_path / "short.mkv"), keep=0.6), fps=2.0, size=32)


def test_a_truncated_mkv_with_a_sound_track_is_refused_like_one_without(tmp_path):
    """Matroska streams declare no length, and with two streams the container's spans both: only
    the stream's DURATION tag (an interrupted copy of a merged web video) tells the cut. Before, the
    first half passed as a whole, 5 s video."""
    for name, start in (("whole", 0.0), ("late", 3.0)):
        path = vf.with_sound(str(tmp_path / f"{name}.mkv"), start + vf.cfr(10.0), 12.0)
        assert Video(path, fps=2.0, size=32).duration == pytest.approx(10.0, abs=0.1)
        with pytest.raises(MediaError, match="truncated file"):
            Video(vf.truncated(path, str(tmp_path / f"{name}_cut.mkv"), keep=0.5), fps=2.0, size=32)
    assert media._duration_tag({"DURATION-eng": "01:02:03.500000000"}) == pytest.approx(3723.5)
    assert media._duration_tag({"DURATION-eng": "00:00:20.0", "DURATION": "00:00:10.0"}) == 10.0  # a trimmed copy's
    assert media._duration_tag({"DURATION": "n/a", "title": "x"}) is None


def test_b_frames_before_a_long_pause_are_no_restart(tmp_path):
    """A VFR still of 4 s with B-frames: the frames before the pause come after the one following it
    in decoding order, 4 s behind, but only a few in a row."""
    times = np.concatenate([vf.cfr(5.0, rate=30.0), 9.0 + vf.cfr(5.0, rate=30.0)])
    for pause_at in (2.0, 3.0, 5.0):
        moved = np.where(vf.cfr(10.0, rate=30.0) < pause_at, vf.cfr(10.0, rate=30.0), vf.cfr(10.0, rate=30.0) + 4.0)
        for name, frame_times in (("a", times), ("b", moved)):
            path = vf.encode(str(tmp_path / f"pause_{name}{pause_at}.mkv"), "libx264", frame_times,
                             options={"bf": "3", "x264-params": "b-adapt=0:bframes=3"})
            video = Video(path, fps=1.0, size=32)
            assert len(list(video.samples())) == int(np.ceil(video.duration))


def test_a_codec_without_a_decoder_and_a_folder_are_named_so(tmp_path):
    avi = vf.encode(str(tmp_path / "clip.avi"), "mpeg4", vf.cfr(2.0))
    data = open(avi, "rb").read()
    assert b"FMP4" in data
    (tmp_path / "unknown.avi").write_bytes(data.replace(b"FMP4", b"QQQQ"))  # a codec tag FFmpeg does not know
    with pytest.raises(MediaError) as info:
        Video(str(tmp_path / "unknown.avi"))
    assert (info.value.stage, info.value.reason) == ("decode", "no decoder for its video codec (unknown to this"
                                                               " FFmpeg build)")
    (tmp_path / "folder.mp4").mkdir()
    with pytest.raises(MediaError) as info:
        Video(str(tmp_path / "folder.mp4"))
    assert info.value.stage == "read" and "Is a directory" in info.value.reason
