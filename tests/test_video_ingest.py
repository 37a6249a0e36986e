"""laf.ingest.video_ingest end to end: real clips -> `laf extract videos` (a real Beam pipeline) ->
contract SequenceExamples; .npy import; the TFX component inside a real LocalDagRunner."""
import glob
import json
import logging
import os
import shutil

import numpy as np
import pytest

import video_fixtures as vf
from laf import cli
from laf.ingest import rejects, sorted_files
from laf.ingest import video_ingest as vi
from laf.ingest.backbones import BackboneConfig, calibrate
from laf.ingest.media import Video
from schemas import names
from schemas.vocabulary import Vocabulary
from file_tree import file_bytes

SIZE = 96


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return vf.make_set(str(tmp_path_factory.mktemp("clips")))


@pytest.fixture(scope="module")
def weights(clips, tmp_path_factory):
    """Random backbone with BatchNorm statistics of these clips, so features are informative offline."""
    frames = [s.image for name in ("h264", "vp9", "mjpeg", "vfr") for s in Video(clips[name], size=SIZE).samples()]
    return calibrate(BackboneConfig(input_size=SIZE), np.stack(frames),
                     str(tmp_path_factory.mktemp("weights") / "calibrated.weights.h5"))


def write_manifest(path, rows):
    with open(path, "w") as f:
        f.write("video,label,id,split,segments\n")
        for row in rows:
            f.write(",".join(row) + "\n")
    return str(path)


@pytest.fixture(scope="module")
def extracted(clips, weights, tmp_path_factory):
    import tensorflow as tf

    remote = "ram://laf-video-ingest/vp9-copy.webm"
    tf.io.gfile.copy(clips["vp9"], remote, overwrite=True)
    base = tmp_path_factory.mktemp("extract")
    in_ms = str(shutil.copy(clips["mjpeg"], base / "mjpeg-in-ms.avi"))  # one file is one video (manifest.dedupe)
    manifest = write_manifest(base / "videos.csv", [
        (clips["h264"], "Color:Red", "", "train", "0.5-2.5"),
        (clips["vp9"], "Color:Green", "", "train", ""),
        (remote, "Color:Green", "vp9-remote", "train", ""),
        (clips["mjpeg"], "Color:Blue", "", "eval", ""),
        (clips["rotated"], "Shade:Yellow", "", "test", ""),
        (clips["vfr"], "Shade:Cyan", "", "", "1-2;6.5-7"),
        (clips["h264"], "Color:Red", "", "train", "0.5-2.5"),  # duplicate row
        (clips["truncated"], "Color:Red", "", "train", ""),
        (clips["zero"], "Color:Blue", "", "train", ""),
        (clips["audio"], "Color:Blue", "", "train", ""),
        (clips["page"], "Color:Green", "", "train", ""),
        (os.path.join(str(base), "missing.mp4"), "Color:Green", "", "train", ""),
        (in_ms, "Color:Blue", "mjpeg-in-ms", "eval", "1500-3000"),  # segments in milliseconds
    ])
    output = str(base / "out")
    rc = cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                   "--weights", weights, "--batch-size", "3"])
    assert rc == 0
    return output


def records(output):
    return {r.video_id: r for split in names.SPLITS for r in vi.read_records(output, split)}


def test_books_balance(extracted):
    with open(os.path.join(extracted, rejects.SUMMARY_FILE)) as f:
        summary = json.load(f)
    assert summary == {"inputs": 13, "accepted": 6, "rejected": 6, "duplicates": 1}
    with open(os.path.join(extracted, sorted_files.DUPLICATES_FILE)) as f:  # the repeated row, and where
        [repeated] = [json.loads(line) for line in f]
    assert repeated["label"] == "Color:Red" and repeated["source"].endswith("h264.mp4") and repeated["where"]
    assert len(records(extracted)) == summary["accepted"]


def test_rejected_records_name_source_stage_and_reason(extracted):
    found = {os.path.basename(r["source"]): (r["stage"], r["reason"]) for r in rejects.read_rejected(extracted)}
    assert set(found) == {"truncated.mp4", "zero.mp4", "audio.m4a", "page.webm", "missing.mp4", "mjpeg-in-ms.avi"}
    assert found["mjpeg-in-ms.avi"] == ("validate", "segment [1500, 3000] starts after the video's end (4.0 s);"
                                                    " segments are in seconds")
    assert found["zero.mp4"][0] == "read" and "zero-byte" in found["zero.mp4"][1]
    labels = {os.path.basename(r["source"]): r["label"] for r in rejects.read_rejected(extracted)}
    assert labels == {"truncated.mp4": "Color:Red", "zero.mp4": "Color:Blue", "audio.m4a": "Color:Blue",
                      "page.webm": "Color:Green", "missing.mp4": "Color:Green", "mjpeg-in-ms.avi": "Color:Blue"}
    assert found["audio.m4a"][0] == "decode" and "no video stream" in found["audio.m4a"][1]
    assert found["missing.mp4"][0] == "read"
    assert found["truncated.mp4"] == ("decode", "no decodable video frames (truncated file or zero-frame stream)")
    assert "not a readable media file" in found["page.webm"][1]
    # the record names its file; a reason never does (a remote video's temporary copy has a random name)
    assert not [r for r in rejects.read_rejected(extracted) if os.path.basename(r["source"]) in r["reason"]]


def test_records_follow_the_contract(extracted):
    vocabulary = Vocabulary.load(extracted)
    assert vocabulary.labels == ["Color:Blue", "Color:Green", "Color:Red", "Shade:Cyan", "Shade:Yellow"]
    assert vocabulary.activities == {"Color": ["Color:Blue", "Color:Green", "Color:Red"],
                                     "Shade": ["Shade:Cyan", "Shade:Yellow"]}
    by_id = records(extracted)
    assert set(by_id) == {"h264", "vp9", "vp9-remote", "mjpeg", "rotated", "vfr"}
    for video_id, r in by_id.items():
        assert r.label_index == vocabulary.index(r.label) and r.fps == 1.0
        assert r.num_frames == int(np.ceil(r.duration - 1e-6)) and r.features.shape == (r.num_frames, 576)
        assert np.all(np.abs(r.timestamps - np.arange(r.num_frames)) < 0.5)
        assert np.all(np.isfinite(r.features))
    assert [by_id[v].split for v in ("h264", "mjpeg", "rotated")] == ["train", "eval", "test"]
    assert vi.read_records(extracted, "eval")[0].video_id in ("mjpeg", "vfr")
    vfr = by_id["vfr"]
    assert vfr.num_frames == 8 and vfr.duration == pytest.approx(8.0, abs=0.01)  # last frame 7.93 s + its 1/15 s
    assert [(s.start, s.end, s.label) for s in vfr.segments] == [(1.0, 2.0, "Shade:Cyan"), (6.5, 7.0, "Shade:Cyan")]
    assert vfr.segment_label_indices == [vocabulary.index("Shade:Cyan")] * 2
    assert by_id["h264"].source.endswith("/h264.mp4") and os.path.isfile(by_id["h264"].source)
    assert by_id["vp9-remote"].source.startswith("ram://")


def test_features_are_informative_and_deterministic(extracted):
    by_id = records(extracted)
    np.testing.assert_allclose(by_id["vp9-remote"].features, by_id["vp9"].features, rtol=1e-5, atol=1e-6)
    red, green, blue = (by_id[v].features.mean(axis=0) for v in ("h264", "vp9", "mjpeg"))
    assert np.abs(red - green).max() > 1e-3 and np.abs(red - blue).max() > 1e-3
    # frames of one clip change over time (brightness encodes time), and so do their features
    assert np.abs(by_id["mjpeg"].features[0] - by_id["mjpeg"].features[-1]).max() > 1e-3


def test_manifest_errors_fail_before_any_work(tmp_path, clips):
    from laf.errors import UserError

    manifest = write_manifest(tmp_path / "bad.csv", [(clips["h264"], "Color:Red", "", "train", ""),
                                                    (clips["vp9"], " ", "", "train", "")])
    output = str(tmp_path / "never")
    assert cli.main(["extract", "videos", "--manifest", manifest, "--output", output]) == 2
    with pytest.raises(UserError, match=f"{manifest}:3: empty label"):
        vi.extract_videos(manifest, output)
    no_activity = write_manifest(tmp_path / "serve.csv", [(clips["h264"], "Serve", "", "train", "")])
    assert cli.main(["extract", "videos", "--manifest", no_activity, "--output", output]) == 2
    assert not os.path.exists(output)


def test_a_segment_past_the_end_among_good_ones_is_kept_with_a_warning(clips, weights, tmp_path, caplog):
    """An annotation slip (THUMOS14 has a few: a video's last segments start after its end) keeps the
    video and its segments as annotated, as the benchmarks' evaluation does; all of them past the end
    (milliseconds?) is rejected (``mjpeg-in-ms`` above)."""
    manifest = write_manifest(tmp_path / "m.csv", [(clips["h264"], "Color:Red", "", "train", "0.5-2.5;50-60")])
    output = str(tmp_path / "out")
    with caplog.at_level(logging.WARNING):
        assert cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                         "--weights", weights]) == 0
    assert [[(s.start, s.end) for s in r.segments] for r in vi.read_records(output, "train")] == [[(0.5, 2.5),
                                                                                                (50.0, 60.0)]]
    assert "h264: 1 of its 2 ground-truth segments start after the video's end (3.9 s), e.g. [50, 60]" in caplog.text


def test_size_and_duration_caps_reject_before_decoding(clips, weights, tmp_path, capsys):
    sizes = {name: os.path.getsize(clips[name]) for name in ("h264", "mjpeg", "vfr")}
    cap = max(sizes["h264"], sizes["vfr"])
    assert sizes["mjpeg"] > cap  # MJPEG stores every frame whole
    manifest = write_manifest(tmp_path / "m.csv", [(clips[n], "Color:Red", "", "train", "") for n in sizes])
    output = str(tmp_path / "out")
    rc = cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                   "--weights", weights, "--max-bytes", str(cap), "--max-duration", "6"])
    assert rc == 0
    assert {r.video_id for r in vi.read_records(output, "train")} == {"h264"}
    found = {os.path.basename(r["source"]): (r["stage"], r["reason"]) for r in rejects.read_rejected(output)}
    assert found["mjpeg.avi"] == ("validate", f"oversized: {sizes['mjpeg']} bytes is over max_bytes={cap}")
    assert found["vfr.mp4"][0] == "validate" and "longer than max_duration=6 s" in found["vfr.mp4"][1]
    # one progress line per video on stderr, the summary alone on stdout
    out, err = capsys.readouterr()
    assert json.loads(out) == {"inputs": 3, "accepted": 1, "rejected": 2, "duplicates": 0}
    lines = sorted(line for line in err.splitlines() if line.startswith("["))
    assert [line[:5] for line in lines] == ["[1/3]", "[2/3]", "[3/3]"]
    assert any(" h264: 4 frames of " in line for line in lines)
    assert any("mjpeg.avi: rejected (validate: oversized:" in line for line in lines)


def test_a_backbone_that_gives_nan_rejects_the_video_not_the_run(clips, weights, tmp_path, capsys):
    """Before, NaN features were written, passed the schema gate (TFDV's float domain ignores NaN) and
    stopped the whole run later, in domain transfer."""
    broken = vf.nan_weights(BackboneConfig(input_size=SIZE, weights=weights), str(tmp_path / "nan.weights.h5"))
    manifest = write_manifest(tmp_path / "m.csv", [(clips["h264"], "Color:Red", "", "train", "")])
    output = str(tmp_path / "out")
    assert cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                     "--weights", broken]) == 2  # every input rejected: a script's next step would read nothing
    assert "every one of the 1 inputs was rejected or a duplicate: see" in capsys.readouterr().err
    assert vi.read_records(output, "train") == []
    [rejected] = rejects.read_rejected(output)
    assert rejected["stage"] == "features"
    assert rejected["reason"].startswith("the backbone gave NaN or infinite features on 4 of 4 frames (first at t=0.")


def test_multi_process_workers_give_the_same_records(extracted, clips, weights, tmp_path):
    """Scaled out: two Beam worker processes, each building its own backbone, write what the
    single in-process run wrote, and their counters still balance the books."""
    manifest = write_manifest(tmp_path / "m.csv", [(clips["h264"], "Color:Red", "", "train", "0.5-2.5"),
                                                  (clips["vp9"], "Color:Green", "", "train", ""),
                                                  (clips["zero"], "Color:Blue", "", "train", "")])
    output = str(tmp_path / "out")
    rc = cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                   "--weights", weights, "--batch-size", "3", "--labels", extracted,
                   "--beam-arg=--direct_running_mode=multi_processing", "--beam-arg=--direct_num_workers=2"])
    assert rc == 0
    with open(os.path.join(output, rejects.SUMMARY_FILE)) as f:
        assert json.load(f) == {"inputs": 3, "accepted": 2, "rejected": 1, "duplicates": 0}
    single, multi = records(extracted), records(output)
    assert set(multi) == {"h264", "vp9"}
    for video_id, r in multi.items():
        np.testing.assert_allclose(r.features, single[video_id].features, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(r.timestamps, single[video_id].timestamps)




def test_same_inputs_give_identical_output_bytes(clips, weights, tmp_path):
    """Run to run, whatever order the runner delivers videos in: the same files, byte for byte."""
    manifest = write_manifest(tmp_path / "m.csv", [(clips["mjpeg"], "Color:Blue", "", "train", ""),
                                                  (clips["h264"], "Color:Red", "", "train", "0.5-2.5"),
                                                  (clips["vp9"], "Color:Green", "", "train", ""),
                                                  (clips["vfr"], "Shade:Cyan", "", "eval", "1-2"),
                                                  (clips["zero"], "Color:Blue", "", "train", ""),
                                                  (clips["page"], "Color:Green", "", "train", "")])
    outputs = [str(tmp_path / f"out{i}") for i in range(2)]
    for output in outputs:
        assert cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                         "--weights", weights, "--batch-size", "3"]) == 0
    first = file_bytes(outputs[0])
    assert first == file_bytes(outputs[1])
    ids = ["h264", "mjpeg", "vp9"]
    assert [r.video_id for r in vi.read_records(outputs[0], "train")] == sorted(ids, key=sorted_files.spread_key)
    assert len(rejects.read_rejected(outputs[0])) == 2


def test_clean_run_writes_an_empty_rejected_file(clips, weights, tmp_path):
    manifest = write_manifest(tmp_path / "m.csv", [(clips["h264"], "Color:Red", "", "train", "")])
    output = str(tmp_path / "out")
    assert cli.main(["extract", "videos", "--manifest", manifest, "--output", output, "--input-size", str(SIZE),
                     "--weights", weights]) == 0
    with open(os.path.join(output, rejects.REJECTED_FILE)) as f:
        assert f.read() == ""


def test_import_features(tmp_path):
    rng = np.random.default_rng(0)
    good = rng.normal(size=(7, 16)).astype(np.float32)
    np.save(tmp_path / "a.npy", good)
    np.save(tmp_path / "b.npy", rng.normal(size=(3, 16)))
    np.save(tmp_path / "wrong_dim.npy", rng.normal(size=(5, 8)))
    np.save(tmp_path / "flat.npy", rng.normal(size=(5,)))
    np.save(tmp_path / "nan.npy", np.full((4, 16), np.nan))
    np.save(tmp_path / "huge.npy", np.full((4, 16), 1e39))  # finite as float64, inf in the float32 records
    (tmp_path / "text.npy").write_text("not an array")
    with open(tmp_path / "archive.npy", "wb") as f:  # an .npz under a .npy name once crashed the whole run
        np.savez(f, x=good)
    np.save(tmp_path / "complex.npy", good.astype(np.complex64))
    np.save(tmp_path / "zero_width.npy", np.zeros((5, 0), np.float32))
    np.save(tmp_path / "late.npy", good)  # 7 frames at 2.5/s: 2.8 s, and a segment at 100 s
    header = np.lib.format.header_data_from_array_1_0(good)  # a corrupt header: 2**40 rows that are not there
    with open(tmp_path / "corrupt.npy", "wb") as f:  # NumPy's MemoryError for it once failed the whole run
        np.lib.format.write_array_header_1_0(f, {**header, "shape": (2 ** 40, 16)})
        f.write(good.tobytes())
    names_ = ("a.npy", "b.npy", "wrong_dim.npy", "flat.npy", "nan.npy", "text.npy", "archive.npy", "complex.npy",
              "zero_width.npy", "late.npy", "huge.npy", "corrupt.npy")
    manifest = write_manifest(tmp_path / "features.csv", [
        (f, "Sport:Run", "", "train", "100-200" if f == "late.npy" else "1-2") for f in names_])
    output = str(tmp_path / "out")
    summary = vi.import_features(manifest, output, feature_rate=2.5)
    assert summary == {"inputs": 12, "accepted": 2, "rejected": 10, "duplicates": 0}
    by_id = records(output)
    np.testing.assert_array_equal(by_id["a"].features, good)
    np.testing.assert_allclose(by_id["a"].timestamps, np.arange(7) / 2.5, rtol=1e-6)
    assert by_id["a"].fps == 2.5 and by_id["a"].duration == pytest.approx(7 / 2.5)
    assert by_id["b"].segments[0].start == 1.0
    stages = {os.path.basename(r["source"]): r["stage"] for r in rejects.read_rejected(output)}
    assert stages == {"wrong_dim.npy": "validate", "flat.npy": "validate", "nan.npy": "validate", "text.npy": "read",
                      "archive.npy": "read", "complex.npy": "validate", "zero_width.npy": "validate",
                      "late.npy": "validate", "huge.npy": "validate", "corrupt.npy": "read"}
    reasons = {os.path.basename(r["source"]): r["reason"] for r in rejects.read_rejected(output)}
    assert "starts after the features' end, plus one step (3.2 s)" in reasons["late.npy"]
    assert "non-real" in reasons["complex.npy"]
    assert "beyond float32's range" in reasons["huge.npy"]
    assert "does not start with the .npy format's magic bytes (it starts b'not an')" in reasons["text.npy"]
    assert "pickle" not in reasons["text.npy"] and "an .npz archive" in reasons["archive.npy"]
    assert "declares shape [1099511627776, 16] of float32 (70368744177664 bytes), but the file holds 448 bytes" \
        in reasons["corrupt.npy"]


def test_a_failed_first_file_or_a_frames_dump_is_rejected_alone(tmp_path, monkeypatch):
    """D came from the first readable header: a failed extraction (np.zeros((0, 0))) first in the
    manifest had every good file rejected for "feature dimension 16 != 0". And an array was loaded
    whole before its shape was checked: a dump of decoded frames [T, H, W, 3], larger than memory on
    a user's machine, failed the whole run with MemoryError (here: loading it at all is the failure)."""
    rng = np.random.default_rng(0)
    np.save(tmp_path / "failed.npy", np.zeros((0, 0), np.float32))
    for name in ("a", "b"):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(6, 16)).astype(np.float32))
    np.save(tmp_path / "stray.npy", rng.normal(size=(6, 8)).astype(np.float32))
    np.save(tmp_path / "frames.npy", np.zeros((2, 8, 8, 3), np.uint8))
    load = np.load

    def load_no_frames(file, *args, **kwargs):
        if str(getattr(file, "name", file)).endswith("frames.npy"):
            raise MemoryError("Unable to allocate 256. GiB")  # as np.load did for a real dump
        return load(file, *args, **kwargs)

    monkeypatch.setattr(np, "load", load_no_frames)
    order = ("failed", "a", "stray", "frames", "b")
    manifest = write_manifest(tmp_path / "features.csv", [(f"{n}.npy", "Sport:Run", "", "train", "") for n in order])
    output = str(tmp_path / "out")
    assert vi.import_features(manifest, output, feature_rate=1.0) == {"inputs": 5, "accepted": 2, "rejected": 3,
                                                                       "duplicates": 0}
    assert sorted(records(output)) == ["a", "b"]
    reasons = {os.path.basename(r["source"]): r["reason"] for r in rejects.read_rejected(output)}
    assert reasons == {"failed.npy": "zero-frame feature array",
                       "stray.npy": "feature dimension 8, not the run's 16",
                       "frames.npy": "expected a [T, D] array, got shape [2, 8, 8, 3]"}


def test_a_header_with_a_negative_size_is_no_feature_array():
    """A corrupt header's (2, -8) passed as a [T, D] array and voted D = -8 for the run."""
    assert vi._feature_problem((2, -8), np.dtype("<f4"), None) == "expected a [T, D] array, got shape [2, -8]"


def test_records_of_label_ordered_ids_are_not_stored_by_label(tmp_path):
    """Ids that follow the labels (as UCF's and THUMOS' do) must not give a file in label order: the
    trainer's and domain transfer's shuffle buffers are smaller than a large split."""
    rng = np.random.default_rng(0)
    rows = []
    for action in ("Dunk", "FreeThrow", "Layup"):
        for i in range(10):
            path = tmp_path / f"v_{action}_g{i:02d}.npy"
            np.save(path, rng.normal(size=(3, 4)).astype(np.float32))
            rows.append((str(path), f"Basketball:{action}", "", "train", ""))
    output = str(tmp_path / "out")
    assert vi.import_features(write_manifest(tmp_path / "features.csv", rows), output, feature_rate=1.0)["accepted"] == 30
    stored = [r.label for r in vi.read_records(output, "train")]
    changes = sum(a != b for a, b in zip(stored, stored[1:]))
    assert sorted(stored) == sorted(row[1] for row in rows) and changes >= 12  # id order: 2 changes
    again = str(tmp_path / "again")
    vi.import_features(write_manifest(tmp_path / "features.csv", rows[::-1]), again, feature_rate=1.0)
    assert file_bytes(again) == file_bytes(output)  # a fixed order all the same


def test_component_in_local_dag_runner(clips, weights, tmp_path):
    from ml_metadata import metadata_store
    from tfx import v1 as tfx

    from components.artifacts import LabelVocabulary
    from components.video_ingest.component import VideoIngest

    manifest = write_manifest(tmp_path / "m.csv", [(clips["h264"], "Color:Red", "", "train", ""),
                                                  (clips["mjpeg"], "Color:Blue", "", "eval", ""),
                                                  (clips["zero"], "Color:Blue", "", "test", "")])
    ingest = VideoIngest(manifest=manifest, fps=2.0, split_ratios={"train": 1.0}, weights=weights, input_size=SIZE)
    db = str(tmp_path / "mlmd.sqlite")
    pipeline = tfx.dsl.Pipeline(
        pipeline_name="video-ingest-test", pipeline_root=str(tmp_path / "root"), components=[ingest],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(db),
        beam_pipeline_args=["--direct_running_mode=in_memory"])
    tfx.orchestration.LocalDagRunner().run(pipeline)

    store = metadata_store.MetadataStore(tfx.orchestration.metadata.sqlite_metadata_connection_config(db))
    [examples] = store.get_artifacts_by_type("Examples")
    [vocab] = store.get_artifacts_by_type(LabelVocabulary.TYPE_NAME)
    assert json.loads(examples.properties["split_names"].string_value) == list(names.SPLITS)
    assert examples.custom_properties["payload_format"].string_value == "FORMAT_TF_SEQUENCE_EXAMPLE"
    summary = {k: examples.custom_properties[k].int_value for k in ("inputs", "accepted", "rejected", "duplicates")}
    assert summary == {"inputs": 3, "accepted": 2, "rejected": 1, "duplicates": 0}
    assert Vocabulary.load(vocab.uri).labels == ["Color:Blue", "Color:Red"]
    [red] = vi.read_records(examples.uri, "train")
    assert red.video_id == "h264" and red.fps == 2.0 and red.num_frames == 8
    shutil.rmtree(str(tmp_path / "root"))


def test_component_reads_annotation_files(clips, weights, tmp_path):
    """VideoIngest from a THUMOS14 folder and its video folder (``data.annotations``, ``data.video_dir``):
    each video's label is its annotated class, and its segments (Ambiguous ones too) reach the records. A class named
    without ``Activity:`` (as THUMOS14's own are) gets its activity from the taxonomy, in the records too."""
    from tfx import v1 as tfx

    from components.video_ingest.component import VideoIngest

    folder, thumos = tmp_path / "videos", tmp_path / "thumos"
    folder.mkdir()
    thumos.mkdir()
    shutil.copy(clips["h264"], folder / "red.mp4")
    shutil.copy(clips["mjpeg"], folder / "blue.avi")
    shutil.copy(clips["vp9"], folder / "other.webm")
    (thumos / "Red_val.txt").write_text("red 0.5 2.0\n")
    (thumos / "Color:Blue_val.txt").write_text("blue 1.0 1.5\n")
    (thumos / "Red_test.txt").write_text("other 0.0 1.0\n")  # another subset: not read
    (thumos / "Ambiguous_val.txt").write_text("red 2.5 3.0\n")
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(json.dumps({"Color": ["Red"]}))
    ingest = VideoIngest(annotations=str(thumos), video_dir=str(folder), subset="val", taxonomy=str(taxonomy),
                         fps=2.0, split_ratios={"train": 1.0}, weights=weights, input_size=SIZE)
    root = str(tmp_path / "root")
    tfx.orchestration.LocalDagRunner().run(tfx.dsl.Pipeline(
        pipeline_name="video-ingest-annotations", pipeline_root=root, components=[ingest],
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(tmp_path / "mlmd.sqlite")), beam_pipeline_args=["--direct_running_mode=in_memory"]))
    [examples] = glob.glob(os.path.join(root, "VideoIngest", "examples", "*"))
    records = {r.video_id: r for r in vi.read_records(examples, "train")}
    assert sorted(records) == ["blue", "red"] and not rejects.read_rejected(examples)
    assert [(r.label, r.activity, [(s.start, s.end) for s in r.segments]) for r in records.values()] == [
        ("Color:Blue", "Color", [(1.0, 1.5)]), ("Red", "Color", [(0.5, 2.0)])]
    assert [[(s.start, s.end) for s in r.ambiguous] for r in records.values()] == [[], [(2.5, 3.0)]]
    [vocabulary] = glob.glob(os.path.join(root, "VideoIngest", "vocabulary", "*"))
    assert Vocabulary.load(vocabulary).activities == {"Color": ["Color:Blue", "Red"]}


def test_extract_images_command_shares_the_video_vocabulary(extracted, weights, tmp_path, capsys):
    from PIL import Image

    from schemas.records import ImageRecord
    from laf import tfrecords

    for label, color in (("Color__Red", (200, 30, 30)), ("Color__Blue", (30, 30, 200))):
        folder = tmp_path / "web" / label
        folder.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (40 + i, 30), color).save(folder / f"{i}.png")
    output = str(tmp_path / "images")
    rc = cli.main(["extract", "images", "--root", str(tmp_path / "web"), "--output", output,
                   "--input-size", str(SIZE), "--weights", weights, "--labels", extracted])
    assert rc == 0
    with open(os.path.join(output, rejects.SUMMARY_FILE)) as f:
        assert json.load(f) == {"inputs": 4, "accepted": 4, "rejected": 0, "duplicates": 0}
    assert "[4/4] images read: 4 decoded, 0 rejected" in capsys.readouterr().err
    vocabulary = Vocabulary.load(extracted)
    images = [ImageRecord.parse(r) for r in tfrecords.read(tfrecords.split_dir(output, "train"))]
    assert sorted((r.label, r.label_index) for r in images) == sorted(
        [(label, vocabulary.index(label)) for label in ("Color:Red", "Color:Blue") for _ in range(2)])
    assert images[0].features.shape == (576,)


def test_an_output_folder_of_the_other_kind_or_a_bad_runner_leaves_it_untouched(extracted, weights, tmp_path, capsys):
    """Images into the videos' folder would replace their Split-train file (the same name); a
    mistyped Beam runner is a one-line error before anything in the folder is removed."""
    import shutil

    copy = str(tmp_path / "videos")
    shutil.copytree(extracted, copy)
    before = {name: open(os.path.join(copy, name), "rb").read() for name in ("summary.json", "rejected.jsonl")}
    (tmp_path / "web" / "Color__Red").mkdir(parents=True)
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 30, 30)).save(tmp_path / "web" / "Color__Red" / "0.png")
    assert cli.main(["extract", "images", "--root", str(tmp_path / "web"), "--output", copy,
                     "--input-size", str(SIZE), "--weights", weights]) == 2
    assert "holds the output of `laf extract videos`" in capsys.readouterr().err
    manifest = write_manifest(tmp_path / "m.csv", [(os.path.join(str(tmp_path), "x.mp4"), "Color:Red", "", "", "")])
    assert cli.main(["extract", "videos", "--manifest", manifest, "--output", copy, "--split", "test"]) == 2
    assert "--split: only with --annotations" in capsys.readouterr().err
    assert cli.main(["extract", "videos", "--manifest", manifest, "--output", copy, "--input-size", str(SIZE),
                     "--weights", weights, "--beam-arg=--runner=DaskRuner"]) == 2
    assert "Unexpected pipeline runner: DaskRuner" in capsys.readouterr().err
    assert {name: open(os.path.join(copy, name), "rb").read() for name in before} == before


def test_vocabulary_sources(tmp_path):
    from laf.errors import UserError
    from laf.ingest import manifest as mf

    rows = mf.read_manifest(write_manifest(tmp_path / "m.csv", [("a.mp4", "Dunk", "", "train", ""),
                                                               ("b.mp4", "Basketball:Layup", "", "train", "")]))
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text(json.dumps({"Basketball": ["Dunk", "Basketball:Layup"]}))
    vocabulary = vi.vocabulary_for(rows, taxonomy=str(taxonomy))
    assert vocabulary.activities == {"Basketball": ["Basketball:Layup", "Dunk"]}
    with pytest.raises(UserError, match=r"m.csv:2: label 'Dunk' must be written 'Activity:Action'$"):
        vi.vocabulary_for(rows)  # no taxonomy: 'Dunk' would be an activity of its own
    taxonomy.write_text(json.dumps({"Basketball": ["Dunk", "Basketball:Layup", "Basketball:Block"]}))
    with pytest.raises(UserError, match="have no videos"):
        vi.vocabulary_for(rows, taxonomy=str(taxonomy))
    Vocabulary.build(["Dunk", "Basketball:Layup", "Basketball:Block"]).save(str(tmp_path))
    assert vi.vocabulary_for(rows, labels=str(tmp_path)).labels == ["Basketball:Block", "Basketball:Layup", "Dunk"]
    with pytest.raises(UserError, match="--taxonomy goes with a new vocabulary, not with --labels"):
        vi.vocabulary_for(rows, labels=str(tmp_path), taxonomy=str(taxonomy))
    Vocabulary.build(["Dunk"]).save(str(tmp_path))
    with pytest.raises(UserError, match="not in the vocabulary"):
        vi.vocabulary_for(rows, labels=str(tmp_path))
