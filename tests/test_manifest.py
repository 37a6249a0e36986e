"""laf.ingest.manifest: CSV/JSONL manifests, validation before work, splits, THUMOS14/ActivityNet sources."""
import json
import os
from collections import Counter

import pytest

from laf.errors import UserError
from laf.ingest import manifest as mf
from schemas.records import Segment


def write(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return str(path)


def test_csv_manifest(tmp_path):
    path = write(tmp_path / "m.csv", "video,label,split,segments\n"
                 "clips/a.mp4,Basketball:Slam dunk,eval,1.5-3;4-6.25\n"
                 "\n"
                 "/abs/b.webm,Basketball:Layup,,\n")
    m = mf.read_manifest(path)
    a, b = m.rows
    assert a.uri == os.path.join(str(tmp_path), "clips/a.mp4") and a.video_id == "a"
    assert a.split == "eval" and a.label == "Basketball:Slam dunk"
    assert a.segments == (Segment(1.5, 3.0, "Basketball:Slam dunk"), Segment(4.0, 6.25, "Basketball:Slam dunk"))
    assert b.uri == "/abs/b.webm" and b.split == mf.split_of("b") and b.segments == ()
    assert m.inputs == 2 and m.labels == ["Basketball:Layup", "Basketball:Slam dunk"]


def test_a_row_under_the_home_folder_is_read_there_as_in_the_config(tmp_path, monkeypatch):
    """``~/clips/a.mp4`` was joined to the manifest's folder (``<folder>/~/clips/a.mp4``): not found."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path / "m.csv", "video,label\n~/clips/a.mp4,Basketball:Slam dunk\n")
    assert mf.read_manifest(path).rows[0].uri == str(tmp_path / "home" / "clips" / "a.mp4")


def test_a_manifest_s_type_is_read_from_its_extension_in_any_case(tmp_path):
    """"videos.CSV" was refused ("a manifest must be .csv, .tsv or .jsonl"), "videos.JSONL" too."""
    read = [mf.read_manifest(write(tmp_path / name, text)).rows for name, text in [
        ("videos.CSV", "video,label\nclips/a.mp4,Basketball:Dunk\n"),
        ("videos.Tsv", "video\tlabel\nclips/a.mp4\tBasketball:Dunk\n"),
        ("videos.JSONL", '{"video": "clips/a.mp4", "label": "Basketball:Dunk"}\n')]]
    assert [(r.uri, r.label) for rows in read for r in rows] == [(f"{tmp_path}/clips/a.mp4", "Basketball:Dunk")] * 3


def test_jsonl_manifest_segment_forms_and_duplicates(tmp_path):
    rows = [
        {"video": "gs://bucket/v1.mp4", "label": "Diving:Pike", "segments": [[0, 2], [3, 4, "Diving:Tuck"]]},
        {"video": "v2.mp4", "id": "clip-2", "label": "Diving:Tuck",
         "segments": [{"start": 1, "end": 2}, {"segment": [5, 6], "label": "Diving:Pike"}]},
        {"video": "gs://bucket/v1.mp4", "label": "Diving:Pike"},
    ]
    path = write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    m = mf.read_manifest(path)
    assert [r.video_id for r in m.rows] == ["v1", "clip-2"] and len(m.duplicates) == 1 and m.inputs == 3
    assert m.rows[0].uri == "gs://bucket/v1.mp4"
    assert m.rows[0].segments[1] == Segment(3.0, 4.0, "Diving:Tuck")
    assert m.rows[1].segments == (Segment(1.0, 2.0, "Diving:Tuck"), Segment(5.0, 6.0, "Diving:Pike"))


def test_a_repeat_with_segments_annotates_the_row_it_repeats(tmp_path):
    m = mf.read_manifest(write(tmp_path / "m.csv", "video,label,segments\na.mp4,A:b,\nb.mp4,A:c,\na.mp4,A:b,1-2\n"))
    assert [(r.video_id, r.segments) for r in m.rows] == [("a", (Segment(1.0, 2.0, "A:b"),)), ("b", ())]
    assert [d.where for d in m.duplicates] == [f"{tmp_path}/m.csv:2"] and m.inputs == 3


def test_ambiguous_column(tmp_path):
    m = mf.read_manifest(write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in [
        {"video": "a.mp4", "label": "A:b", "segments": [[1, 2]],
         "ambiguous": [[3, 4, "ignored"], {"start": 6, "end": 7}]},
        {"video": "c.mp4", "label": "A:c", "ambiguous": "0-1.5"},
        {"video": "c.mp4", "label": "A:c"}])))
    assert [r.ambiguous for r in m.rows] == [(Segment(3.0, 4.0, "Ambiguous"), Segment(6.0, 7.0, "Ambiguous")),
                                             (Segment(0.0, 1.5, "Ambiguous"),)]
    assert m.rows[0].segments == (Segment(1.0, 2.0, "A:b"),) and len(m.duplicates) == 1
    with pytest.raises(UserError, match=r"m.csv:2 \(ambiguous\): invalid segment \[5.0, 4.0\]"):
        mf.read_manifest(write(tmp_path / "m.csv", "video,label,ambiguous\na.mp4,A:b,5-4\n"))


def test_one_file_under_two_ids_is_an_error_however_its_path_is_written(tmp_path):
    """Relative, absolute and file:// forms of one file are one file: under another id it was ingested twice."""
    for other in (f"{tmp_path}/clips/a.mp4", f"file://{tmp_path}/clips/a.mp4", "clips/../clips/a.mp4"):
        path = write(tmp_path / "m.csv", f"video,label,id\nclips/a.mp4,A:b,one\n{other},A:b,two\n")
        with pytest.raises(UserError, match="m.csv:3: .* is listed at .*m.csv:2 already, as video 'one'"):
            mf.read_manifest(path)


def test_one_file_written_two_ways_is_one_video(tmp_path):
    m = mf.read_manifest(write(tmp_path / "m.csv", "video,label\nclips/a.mp4,A:b\n./clips//a.mp4,A:b\n"))
    assert [r.uri for r in m.rows] == [os.path.join(str(tmp_path), "clips", "a.mp4")] and len(m.duplicates) == 1


def test_an_id_of_zero_is_an_id(tmp_path):
    path = write(tmp_path / "m.jsonl", json.dumps({"video": "clips/a.mp4", "id": 0, "label": "A:b"}) + "\n")
    assert mf.read_manifest(path).rows[0].video_id == "0"


def test_hash_split_is_stable_and_follows_ratios():
    ratios = {"train": 0.5, "eval": 0.25, "test": 0.25}
    counts = Counter(mf.split_of(f"video_{i}", ratios) for i in range(4000))
    assert abs(counts["train"] / 4000 - 0.5) < 0.03 and abs(counts["test"] / 4000 - 0.25) < 0.03
    # pinned: a rerun in another process (a salted hash()) must not move a video to another split
    assert [mf.split_of(v, ratios) for v in ("video_7", "video_1", "video_5")] == ["train", "eval", "test"]
    assert {mf.split_of(f"v{i}", {"test": 1.0}) for i in range(50)} == {"test"}
    with pytest.raises(UserError, match="ratios"):
        mf.check_ratios({"train": 1.0, "holdout": 0.5})
    for shares in ({"train": 0.8}, {"train": 0.7, "eval": 0.2, "test": 0.2}):  # were scaled to 1, unsaid
        with pytest.raises(UserError, match=r"^--ratios must use keys train/eval/test, be >= 0 and sum to 1"):
            mf.check_ratios(shares, "--ratios")


@pytest.mark.parametrize("name,text,where,words", [
    ("m.csv", "video,split\na.mp4,train\n", "m.csv:1", "missing required column"),
    ("m.csv", "video,label\na.mp4,A:b\nb.mp4,  \n", "m.csv:3", "empty label"),
    ("m.csv", "video,label\na.mp4,A:b\nb.mp4,A:b,extra\n", "m.csv:3", "3 fields"),
    ("m.csv", "video,label,split\na.mp4,A:b,training\n", "m.csv:2", "split 'training'"),
    ("m.csv", "video,label,spilt\na.mp4,A:b,train\n", "m.csv:1", "unknown column"),
    ("m.csv", "video,label\na.mp4,A:b\nx/a.mp4,A:c\n", "m.csv:3", "already used at"),
    ("m.csv", "video,label,segments\na.mp4,A:b,4-2\n", "m.csv:2", "invalid segment"),
    ("m.csv", "video,label\na.mp4,:b\n", "m.csv:2", "Activity:Action"),
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b"}\n{"video": "b.mp4", "label": \n', "m.jsonl:2",
     "not a JSON object"),
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b"}\n["b.mp4"]\n', "m.jsonl:2", "expected a JSON object"),
    ("m.jsonl", '{"video": "", "label": "A:b"}\n', "m.jsonl:1", "empty video path"),
    ("m.csv", "video,label,segments\na.mp4,A:b,1-2\na.mp4,A:b,3-4\n", "m.csv:3", "another set of segments"),
    ("m.csv", "video,label,split\na.mp4,A:b,train\na.mp4,A:b,test\n", "m.csv:3", "another split"),
    # one file under two ids was ingested twice, silently: here once in train and once in test
    ("m.csv", "video,label,id,split\na.mp4,A:b,clip1,train\nb.mp4,A:c,,\n./a.mp4,A:b,clip2,test\n", "m.csv:4",
     "m.csv:2 already, as video 'clip1' (A:b, train); one file is one video"),
    ("m.csv", "video,label,id\na.mp4,A:b,one\na.mp4,A:c,two\n", "m.csv:3", "one file is one video"),
    ("m.csv", "video,label\na.mp4,A:b\nb.mp4,A\x00:c\n", "m.csv:3", "not a readable CSV row"),
    ("m.csv", "video,label,label\na.mp4,A:b,A:c\n", "m.csv:1", "appear more than once"),
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b", "segments": ["35"]}\n', "m.jsonl:1", "cannot read segment"),
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b", "segments": [[1, 2, 3]]}\n', "m.jsonl:1", "label 3 is not text"),
    # a fourth element (a second label) was dropped, and JSON true read as 1 s
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b", "segments": [[1, 2, "A:b", "A:c"]]}\n', "m.jsonl:1",
     "cannot read segment"),
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b", "segments": [[true, 2]]}\n', "m.jsonl:1", "cannot read segment"),
    ("m.jsonl", '{"video": "a.mp4", "label": "A:b"}\n{"video": "b.mp4", "label": "A:b", "label": "A:c"}\n',
     "m.jsonl:2", "'label' appears twice in one JSON object"),
])
def test_manifest_errors_name_file_and_line(tmp_path, name, text, where, words):
    path = write(tmp_path / name, text)
    with pytest.raises(UserError) as info:
        mf.read_manifest(path)
    assert str(tmp_path / where) in str(info.value) and words in str(info.value)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_row_holding_a_raw_line_separator_is_one_row(tmp_path, end):
    """json.dumps(..., ensure_ascii=False) writes U+2028 and NEL raw inside a string, and a CSV cell
    holds them as they are; str.splitlines cut the row there. Rows end at any of \n, \r\n, \r."""
    names = ["a\u2028b.mp4", "c\x85d.mp4"]
    rows = [{"video": name, "label": "A:b"} for name in names]
    jsonl = write(tmp_path / "m.jsonl", "".join(json.dumps(r, ensure_ascii=False) + end for r in rows))
    csv_file = write(tmp_path / "m.csv", "video,label" + end + "".join(f"{name},A:b{end}" for name in names))
    for path in (jsonl, csv_file):
        assert [row.uri.rsplit("/", 1)[-1] for row in mf.read_manifest(path).rows] == names


def test_every_label_needs_an_activity_written_or_from_the_taxonomy(tmp_path):
    rows = mf.read_manifest(write(tmp_path / "m.csv", "video,label\na.mp4,A:b\nb.mp4,Serve\n"))
    with pytest.raises(UserError, match=r"m.csv:3: label 'Serve' must be written 'Activity:Action'$"):
        mf.check_activities(rows)
    mf.check_activities(rows, {"Serve": "Tennis"})
    segment = mf.read_manifest(write(tmp_path / "s.jsonl", json.dumps(
        {"video": "a.mp4", "label": "A:b", "segments": [[1, 2, "Serve"]]}) + "\n"))
    with pytest.raises(UserError, match=r"s.jsonl:1: label 'Serve' must be written 'Activity:Action' or be mapped"):
        mf.check_activities(segment, {"A:c": "A"})


def test_empty_and_missing_manifests(tmp_path):
    with pytest.raises(UserError, match="no header"):
        mf.read_manifest(write(tmp_path / "e.csv", ""))
    with pytest.raises(UserError, match="lists no videos"):
        mf.read_manifest(write(tmp_path / "h.csv", "video,label\n"))
    with pytest.raises(UserError, match="does not exist"):
        mf.read_manifest(str(tmp_path / "absent.csv"))


def test_thumos14_annotation_folder(tmp_path):
    ann = tmp_path / "ann"
    ann.mkdir()
    write(ann / "CliffDiving_val.txt", "video_validation_1 1.0 3.0\n")
    write(ann / "Diving_val.txt", "video_validation_1 1.0 3.0\nvideo_validation_1 5 9.5\nvideo_validation_2 0 1\n")
    write(ann / "Ambiguous_val.txt", "video_validation_2 2 3\n")
    videos = tmp_path / "videos"
    videos.mkdir()
    write(videos / "video_validation_1.mp4", "x")
    m = mf.from_annotations(str(ann), str(videos), split="train")
    one, two = m.rows
    assert one.label == "Diving" and one.split == "train" and one.uri.endswith("videos/video_validation_1.mp4")
    assert sorted(s.label for s in one.segments) == ["CliffDiving", "Diving", "Diving"]
    assert two.uri == os.path.join(str(videos), "video_validation_2.mp4")  # missing file: rejected later
    assert all(s.label != "Ambiguous" for s in two.segments)
    assert one.ambiguous == () and two.ambiguous == (Segment(2.0, 3.0, "Ambiguous"),)


def test_activitynet_json(tmp_path):
    gt = {"database": {
        "abc": {"subset": "validation", "annotations": [{"segment": [1, 5], "label": "Sports:Long jump "}]},
        "def": {"subset": "testing", "annotations": []}}}
    path = write(tmp_path / "anet.json", json.dumps(gt))
    videos = tmp_path / "v"
    videos.mkdir()
    write(videos / "v_abc.mkv", "x")
    m = mf.from_annotations(path, str(videos), subset="validation")
    assert [(r.video_id, r.label, r.uri.endswith("v_abc.mkv")) for r in m.rows] == [("abc", "Sports:Long jump", True)]
    assert m.rows[0].segments == (Segment(1.0, 5.0, "Sports:Long jump"),)  # trimmed as the video's label
    assert m.labels == ["Sports:Long jump"]
    (videos / "v_abc.mkv").unlink()
    for name in ("v_abc.TS", "v_abc.vob"):  # a recorder's MPEG-TS, a DVD's MPEG-PS: were "missing"
        write(videos / name, "x")
        assert mf.from_annotations(path, str(videos), subset="validation").rows[0].uri.endswith(name)
        (videos / name).unlink()
    with pytest.raises(UserError, match="video def: no annotated segments, so no label"):
        mf.from_annotations(path, str(videos), subset="testing")  # a chosen subset: each of its videos counts


def test_every_subset_of_an_activitynet_file_leaves_its_unlabelled_videos_out_and_says_so(tmp_path, caplog):
    """The official v1.3 file's testing videos carry no annotations; before, they stopped every run
    that read all subsets (the file's own training and validation videos could not be used together)."""
    gt = {"database": {
        "abc": {"subset": "validation", "annotations": [{"segment": [1, 5], "label": "Sports:Long jump"}]},
        "ghi": {"subset": "training", "annotations": [{"segment": [0, 2], "label": "Sports:High jump"}]},
        "def": {"subset": "testing", "annotations": []}}}
    path = write(tmp_path / "anet.json", json.dumps(gt))
    (tmp_path / "v").mkdir()
    with caplog.at_level("WARNING"):
        m = mf.from_annotations(path, str(tmp_path / "v"))
    assert sorted(r.video_id for r in m.rows) == ["abc", "ghi"]
    assert "1 video(s) without annotated segments, so without a label, are left out (e.g. def)" in caplog.text


def test_ambiguous_segments_of_an_activitynet_file_go_with_their_videos_not_into_the_labels(tmp_path, caplog):
    """THUMOS14 converted to this format: an Ambiguous segment longer than the action made "Ambiguous"
    the video's label, and a video with only Ambiguous ones stopped the run."""
    gt = {"database": {
        "a": {"subset": "test", "annotations": [{"segment": [0, 9], "label": "Ambiguous"},
                                                 {"segment": [10, 12], "label": "Sports:Bowl"}]},
        "b": {"subset": "test", "annotations": [{"segment": [1, 2], "label": "Ambiguous"}]}}}
    path = write(tmp_path / "th14.json", json.dumps(gt))
    (tmp_path / "v").mkdir()
    with caplog.at_level("WARNING"):
        m = mf.from_annotations(path, str(tmp_path / "v"), subset="test")
    [row] = m.rows
    assert (row.video_id, row.label, row.segments) == ("a", "Sports:Bowl", (Segment(10.0, 12.0, "Sports:Bowl"),))
    assert row.ambiguous == (Segment(0.0, 9.0, "Ambiguous"),)
    assert "1 video(s) without annotated segments, so without a label, are left out (e.g. b)" in caplog.text


def test_two_files_of_one_annotated_video_are_an_error_naming_both(tmp_path):
    """``x.mkv`` beside ``x.mp4`` (a download's partial file): before, the first by name was taken."""
    gt = {"database": {"abc": {"subset": "validation", "annotations": [{"segment": [1, 5], "label": "A:b"}]}}}
    path = write(tmp_path / "anet.json", json.dumps(gt))
    (tmp_path / "v").mkdir()
    for name in ("v_abc.mkv", "v_abc.mp4"):
        write(tmp_path / "v" / name, "x")
    with pytest.raises(UserError, match=r"video abc: several files in .* are this video \(v_abc.mkv, v_abc.mp4\)"):
        mf.from_annotations(path, str(tmp_path / "v"))


def test_the_same_segments_in_another_order_are_one_annotation(tmp_path):
    m = mf.read_manifest(write(tmp_path / "m.csv", "video,label,segments\na.mp4,A:b,1-2;3-4\na.mp4,A:b,3-4;1-2\n"))
    assert len(m.rows) == 1 and len(m.duplicates) == 1


def test_a_label_typed_composed_or_decomposed_is_one_label(tmp_path):
    """macOS writes names decomposed ("e" + U+0301), a keyboard composed ("é"): the same label."""
    composed, decomposed = "Food:Caf\u00e9", "Food:Cafe\u0301"
    m = mf.read_manifest(write(tmp_path / "m.csv", f"video,label\na.mp4,{composed}\nb.mp4,{decomposed}\n"))
    assert m.labels == [composed]
    from laf.ingest.image_inputs import folder_label
    assert folder_label(decomposed) == composed


def test_local_path_copies_remote_uris(tmp_path):
    import tensorflow as tf

    uri = "ram://laf-test/clip.mp4"
    with tf.io.gfile.GFile(uri, "wb") as f:
        f.write(b"\x00video-bytes")
    with mf.local_path(uri) as local:
        assert os.path.isfile(local) and local.endswith(".mp4")
        assert open(local, "rb").read() == b"\x00video-bytes"
    assert not os.path.exists(local)
    with mf.local_path("file:///data/x.mp4") as plain:
        assert plain == "/data/x.mp4"


def test_a_repeat_that_adds_ambiguous_segments_is_another_annotation(tmp_path):
    text = "video,label,segments,ambiguous\na.mp4,A:b,1-2,\na.mp4,A:b,1-2,3-4\n"
    with pytest.raises(UserError, match=r"m.csv:3: .* with another set of Ambiguous segments; keep one row"):
        mf.read_manifest(write(tmp_path / "m.csv", text))
    m = mf.read_manifest(write(tmp_path / "m.csv", "video,label,segments,ambiguous\na.mp4,A:b,,\na.mp4,A:b,,3-4\n"))
    assert m.rows[0].ambiguous == (Segment(3.0, 4.0, "Ambiguous"),) and len(m.duplicates) == 1


def test_labels_that_differ_only_in_case_or_spacing_are_said(tmp_path, caplog):
    m = mf.read_manifest(write(tmp_path / "m.csv", "video,label\na.mp4,Sports:Diving\nb.mp4,sports: diving\n"
                               "c.mp4,Sports:Dive\n"))
    with caplog.at_level("WARNING"):
        vocabulary = mf.build_vocabulary(m)
    assert len(vocabulary) == 3  # kept apart: the user's labels
    assert "labels ['Sports:Diving', 'sports: diving'] differ only in case or spacing" in caplog.text
    assert "Dive'" not in caplog.text
