"""THUMOS14 / ActivityNet file round trips and clear errors on malformed files."""
import json

import pytest

from laf.errors import UserError
from laf.evaluate import annotations
from schemas.segment import Detection
from schemas.segment import Segment

GT = {
    "video_test_0000004": [Segment(0.2, 1.1, "CricketBowling"), Segment(33.7, 35.4, "CricketShot")],
    "video_test_0000007": [Segment(12.25, 14.5, "Basketball:Dunk")],
}


def test_thumos14_round_trip_with_ambiguous(tmp_path):
    folder = tmp_path / "thumos"
    amb = {"video_test_0000004": [Segment(40.0, 41.5, "Ambiguous")]}
    with_amb = {v: GT.get(v, []) + amb.get(v, []) for v in GT}
    paths = annotations.write_thumos14(str(folder), with_amb, "test")
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == [
        "Ambiguous_test.txt", "Basketball:Dunk_test.txt", "CricketBowling_test.txt", "CricketShot_test.txt"]
    assert (folder / "CricketShot_test.txt").read_text() == "video_test_0000004 33.7 35.4\n"
    assert annotations.read_thumos14(str(folder)) == GT
    assert annotations.read_ground_truth(str(folder), "test") == GT
    assert annotations.read_ambiguous(str(folder)) == amb


def test_thumos14_reads_official_layout_and_subsets(tmp_path):
    (tmp_path / "BaseballPitch_val.txt").write_text("video_validation_0000051 67.5 75.9\n\n"
                                                    "video_validation_0000051 85.9 90.6\n")
    (tmp_path / "Ambiguous_val.txt").write_text("video_validation_0000051 20.0 22.0\n")
    (tmp_path / "BaseballPitch_test.txt").write_text("video_test_0000001 1 2\n")
    (tmp_path / "readme.md").write_text("not an annotation")
    with pytest.raises(UserError, match="several subsets"):
        annotations.read_thumos14(str(tmp_path))
    val = annotations.read_thumos14(str(tmp_path), "val")
    assert val == {"video_validation_0000051": [Segment(67.5, 75.9, "BaseballPitch"),
                                                Segment(85.9, 90.6, "BaseballPitch")]}
    assert annotations.read_ambiguous(str(tmp_path), "test") == {}
    with pytest.raises(UserError, match="no annotation files of subset 'train'"):
        annotations.read_thumos14(str(tmp_path), "train")


def test_thumos14_folder_at_a_remote_uri(tmp_path):
    """A ``gs://`` folder (here TF's ``ram://``) reads like a local one: a pipeline's
    ``data.annotations`` runs where the containers are."""
    import tensorflow as tf

    local = tmp_path / "thumos"
    annotations.write_thumos14(str(local), GT, "test")
    remote = "ram://laf-annotations/thumos14"
    for path in local.iterdir():
        tf.io.gfile.makedirs(remote)
        tf.io.gfile.copy(str(path), f"{remote}/{path.name}", overwrite=True)
    assert annotations.read_ground_truth(remote) == GT
    assert annotations.read_ground_truth(remote + "/", "test") == GT


@pytest.mark.parametrize("line, message", [("video_1 3.0\n", "expected '<video> <start> <end>'"),
                                           ("video_1 5 4\n", "invalid segment"),
                                           ("video_1 a b\n", "expected"),
                                           ("video_1 -1 4\n", r"invalid segment \[-1.0, 4.0\] \(need finite 0 <= start"),
                                           ("video_1 5 9 0.7\n", "expected '<video> <start> <end>'"),
                                           ("video_1 1 2 video_2 3 4\n", "expected '<video> <start> <end>'")])
def test_thumos14_bad_lines_name_file_and_line(tmp_path, line, message):
    (tmp_path / "X_val.txt").write_text("video_0 1 2\n" + line)
    with pytest.raises(UserError, match=message) as err:
        annotations.read_thumos14(str(tmp_path))
    assert "X_val.txt:2" in str(err.value)


def test_thumos14_file_not_in_utf8_is_a_user_error(tmp_path):
    (tmp_path / "X_val.txt").write_bytes(b"video_\xe92 1 2\n")
    with pytest.raises(UserError, match="X_val.txt: not UTF-8 text"):
        annotations.read_thumos14(str(tmp_path))


def test_activitynet_ground_truth_round_trip(tmp_path):
    path = str(tmp_path / "gt.json")
    gt = dict(GT, background_video=[])
    annotations.write_activitynet(path, gt, durations={"video_test_0000004": 60.0})
    data = json.loads(open(path).read())
    assert data["database"]["video_test_0000004"]["duration"] == 60.0
    assert data["database"]["video_test_0000004"]["annotations"][1] == {"segment": [33.7, 35.4],
                                                                        "label": "CricketShot"}
    assert annotations.read_ground_truth(path) == gt
    assert annotations.read_activitynet(path, subset="validation") == gt
    with pytest.raises(UserError, match=r"has no subset 'testing' \(found \['validation'\]\)"):
        annotations.read_activitynet(path, subset="testing")  # as a THUMOS14 folder without that subset


def test_a_detection_may_start_before_zero_but_ground_truth_may_not(tmp_path):
    """A method's boundary regression gives -0.3 s; the benchmarks' kits take it, as here."""
    path = tmp_path / "results.json"
    path.write_text('{"results": {"v": [{"label": "a", "score": 1, "segment": [-0.3, 1]}]}}')
    assert annotations.read_results(str(path)) == [Detection("v", -0.3, 1.0, "a", 1.0)]
    path.write_text('{"database": {"v": {"annotations": [{"label": "a", "segment": [-0.3, 1]}]}}}')
    with pytest.raises(UserError, match=r"invalid segment \[-0.3, 1.0\] \(need finite 0 <= start <= end\)"):
        annotations.read_activitynet(str(path))


def test_results_round_trip(tmp_path):
    path = str(tmp_path / "results.json")
    dets = [Detection("v1", 0.0, 10.0, "a", 0.9), Detection("v2", 1.5, 2.5, "b", 0.25),
            Detection("v1", 3.0, 4.0, "b", 0.5)]
    annotations.write_results(path, dets)
    data = json.loads(open(path).read())
    assert data["version"] == "VERSION 1.3" and data["external_data"] == {}
    assert data["results"]["v1"][1] == {"label": "b", "score": 0.5, "segment": [3.0, 4.0]}
    assert sorted(annotations.read_results(path), key=repr) == sorted(dets, key=repr)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"database": {}}', 'no "results"'),
    ('{"results": {"v": [{"label": "a", "segment": [0, 1]}]}}', "numeric \"score\""),
    ('{"results": {"v": [{"label": "a", "score": 1, "segment": [2, 1]}]}}', "invalid segment"),
    ('{"results": {"v": [{"label": "a", "score": 1, "segment": "x"}]}}', "segment"),
    ('{"results": {"v": [{"label": "a", "score": 1, "segment": "12"}]}}', "segment"),
    ('{"results": {"v": [{"label": "a", "score": true, "segment": [0, 1]}]}}', "numeric \"score\""),
    ('{"results": {"v": [{"label": "a", "score": "0.5", "segment": [0, 1]}]}}', "numeric \"score\""),
    ('{"results": {"v": [{"label": "a", "score": 1, "segment": ["0", 1]}]}}', "segment"),
    ('{"results": {"v": [{"label": "a", "score": 1, "segment": [false, 1]}]}}', "segment"),
    ('{"results": {"v": null}}', "expected a list of results"),
    ('{"results": {"v": [], "w": [], "v": []}}', "'v' appears twice in one JSON object"),
    ('{"results": {"v": [{"label": null, "score": 1, "segment": [0, 1]}]}}', '"label" must be a non-empty string'),
    (b'{"results": {"v\xe9": []}}', "not UTF-8 text"),
])
def test_bad_result_files_are_user_errors(tmp_path, content, message):
    path = tmp_path / "r.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UserError, match=message):
        annotations.read_results(str(path))
    with pytest.raises(UserError, match="is a folder"):
        annotations.read_results(str(tmp_path))


@pytest.mark.parametrize("content, message", [
    ('{"database": {"v": []}}', 'expected {"annotations"'),
    ('{"database": {"v": {"annotations": null}}}', 'expected {"annotations"'),
    ('{"database": {"v": {"annotations": ["x"]}}}', '"label" must be a non-empty string'),
    ('{"database": {"v": {"annotations": [{"segment": [0, 1], "label": null}]}}}', '"label" must be a non-empty'),
    ('{"database": {"v": {"annotations": [{"segment": [0, 1], "label": 3}]}}}', '"label" must be a non-empty'),
    ('{"database": {"v": {"annotations": []}, "v": {"annotations": []}}}', "'v' appears twice in one JSON object"),
])
def test_bad_activitynet_ground_truth_is_a_user_error(tmp_path, content, message):
    path = tmp_path / "gt.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        annotations.read_activitynet(str(path))


def test_a_subset_the_ground_truth_lacks_names_those_it_has(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text('{"database": {"v": {"subset": "validation", "annotations": [{"segment": [0, 1], "label": "a"}]},'
                    ' "w": {"subset": "testing", "annotations": []}}}')
    with pytest.raises(UserError, match=r"has no subset 'test' \(found \['testing', 'validation'\]\)"):
        annotations.read_activitynet(str(path), "test")
    assert annotations.read_activitynet(str(path), "validation") == {"v": [Segment(0.0, 1.0, "a")]}
    path.write_text('{"database": {"v": {"subset": "validation", "annotations": []}, "u": {"annotations": []}}}')
    with pytest.raises(UserError, match=r"u has no \"subset\", and subset 'validation' was chosen \(--subset, or data.subset in a pipeline config\)"):
        annotations.read_activitynet(str(path), "validation")  # not silently left out


def test_bad_ground_truth_paths(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        annotations.read_ground_truth(str(tmp_path / "missing.json"))
    with pytest.raises(UserError, match="not found"):
        annotations.read_ground_truth(str(tmp_path / "gt.csv"))
    (tmp_path / "gt.csv").write_text("video,start,end\n")
    with pytest.raises(UserError, match="neither"):
        annotations.read_ground_truth(str(tmp_path / "gt.csv"))
    (tmp_path / "results.json").write_text('{"results": {}}')
    with pytest.raises(UserError, match="no \"database\""):
        annotations.read_ground_truth(str(tmp_path / "results.json"))


def test_ground_truth_that_can_only_be_missed_is_warned_of(tmp_path, caplog):
    """Kept as the benchmarks' kits keep it, but named: a repeated segment, a zero-length one, one
    starting past its video's end, an empty class file, a class only in another subset."""
    folder = tmp_path / "thumos"
    folder.mkdir()
    (folder / "A_test.txt").write_text("v1 1 2\nv1 5 5\nv1 1 2\n")
    (folder / "B_test.txt").write_text("\n")
    (folder / "C_Test.txt").write_text("v1 3 4\n")
    (folder / "Ambiguous_test.txt").write_text("v1 1 2\nv1 1 2\n")
    with caplog.at_level("WARNING", logger="laf.evaluate.annotations"):
        assert annotations.read_thumos14(str(folder), "test") == {"v1": [Segment(1, 2, "A"), Segment(1, 2, "A"),
                                                                         Segment(5, 5, "A")]}
    found = [r.getMessage() for r in caplog.records]
    assert found == [f"{folder}: class(es) C have annotation files of other subsets (Test) but none of 'test': left"
                     " out of the mAP",
                     f"{folder}/A_test.txt:2: zero-length segment [5, 5] of v1 can never be matched",
                     f"{folder}/A_test.txt:3 repeats the segment of {folder}/A_test.txt:1: counted twice, so one copy"
                     " can only be missed",
                     f"{folder}/B_test.txt holds no segments: class B is left out of the mAP"]
    caplog.clear()
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"database": {"v": {"duration": 80.5, "annotations": [
        {"segment": [500, 520], "label": "A"}, {"segment": [1, 2], "label": "A"}, {"segment": [1, 2], "label": "B"}]}}}))
    with caplog.at_level("WARNING", logger="laf.evaluate.annotations"):
        assert len(annotations.read_activitynet(str(path))["v"]) == 3
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: v annotation 0: segment [500, 520] starts at or after the end of v (80.5 s): times in another unit?"]


def test_ground_truth_and_results_labels_are_read_in_nfc(tmp_path):
    """As ingestion reads labels: a decomposed ground-truth label (macOS) must match the detections
    of the label the vocabulary holds in NFC, and a THUMOS14 class file named decomposed too."""
    decomposed, composed = "Cafe\u0301", "Caf\u00e9"
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v": {"annotations": [{"label": decomposed, "segment": [1, 2]}]}}}))
    assert annotations.read_ground_truth(str(gt)) == {"v": [Segment(1.0, 2.0, composed)]}
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"results": {"v": [{"label": decomposed, "score": 1, "segment": [1, 2]}]}}))
    assert annotations.read_results(str(results)) == [Detection("v", 1.0, 2.0, composed, 1.0)]
    (tmp_path / "thumos").mkdir()
    (tmp_path / "thumos" / f"{decomposed}_val.txt").write_text("v 1.0 2.0\n")
    assert annotations.read_ground_truth(str(tmp_path / "thumos"), "val") == {"v": [Segment(1.0, 2.0, composed)]}


def test_ground_truth_labels_are_stripped_as_ingestion_strips_them(tmp_path):
    """An ActivityNet label with a trailing space was a class of its own: the run's vocabulary (from a
    manifest, stripped) did not know it, and `laf evaluate` scored it apart from the model's."""
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v": {"annotations": [{"label": " Basketball:Dunk ", "segment": [1, 2]}]}}}))
    assert annotations.read_ground_truth(str(gt)) == {"v": [Segment(1.0, 2.0, "Basketball:Dunk")]}


BIG = "1" + "0" * 400  # a JSON integer too large for a float


@pytest.mark.parametrize("text, read, words", [
    ('{"database": {"v": {"annotations": [{"label": "a", "segment": [0, %s]}]}}}' % BIG, annotations.read_activitynet,
     'v annotation 0: expected "segment": [start, end]'),
    ('{"results": {"v": [{"label": "a", "score": %s, "segment": [0, 1]}]}}' % BIG, annotations.read_results,
     'v result 0: expected "label" and a numeric "score"'),
    ('{"results": {"v": [{"label": "a", "score": 1%s, "segment": [0, 1]}]}}' % ("0" * 5000), annotations.read_results,
     "is not valid JSON: Exceeds the limit"),
])
def test_numbers_too_large_for_a_float_are_one_line_errors(tmp_path, text, read, words):
    """They were OverflowError and ValueError tracebacks."""
    path = tmp_path / "big.json"
    path.write_text(text)
    with pytest.raises(UserError, match=f"^{path}.*{words}".replace("[", r"\[").replace("]", r"\]")):
        read(str(path))
    path.write_text('{"database": {"v": {"duration": %s, "annotations": [{"label": "a", "segment": [0, 1]}]}}}' % BIG)
    assert annotations.read_activitynet(str(path)) == {"v": [Segment(0.0, 1.0, "a")]}  # ignored, as a missing one


def test_an_ambiguous_entry_is_checked_whether_or_not_it_is_read(tmp_path):
    """``laf evaluate --no-ambiguous`` reads only the actions: a broken Ambiguous entry passed unsaid."""
    path = tmp_path / "gt.json"
    path.write_text(json.dumps({"database": {"v": {"annotations": [{"label": "a", "segment": [0, 1]},
                                                                  {"label": "Ambiguous", "segment": [5, 2]}]}}}))
    with pytest.raises(UserError, match=r"v annotation 1: invalid segment \[5.0, 2.0\]"):
        annotations.read_activitynet(str(path))
