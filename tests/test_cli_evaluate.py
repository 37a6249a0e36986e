"""``laf evaluate`` run as a user runs it (in-process through ``laf.cli.main``)."""
import dataclasses
import json

import pytest

from laf.cli import main
from laf.evaluate import annotations
from schemas.segment import Detection
from schemas.segment import Segment

GT = {"v1": [Segment(0, 10, "a"), Segment(20, 30, "b")], "v2": [Segment(5, 9, "a")]}
DETS = [Detection("v1", 0, 10, "a", 0.9), Detection("v1", 40, 50, "a", 0.8), Detection("v2", 5, 7, "a", 0.7),
        Detection("v1", 21, 30, "b", 0.6), Detection("v1", 0, 1, "unknown", 0.5)]


@pytest.fixture
def files(tmp_path):
    pred = str(tmp_path / "pred.json")
    annotations.write_results(pred, DETS)
    gt_json = str(tmp_path / "gt.json")
    annotations.write_activitynet(gt_json, GT)
    folder = str(tmp_path / "thumos")
    amb = {"v1": [Segment(45, 46, "Ambiguous")]}
    annotations.write_thumos14(folder, {v: GT.get(v, []) + amb.get(v, []) for v in GT}, "test")
    return gt_json, folder, pred


def test_json_output_contract(files, capsys):
    gt_json, _, pred = files
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", pred, "--tiou", "0.7,0.5,0.50", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)  # duplicate thresholds are one, in order
    # a: TP, FP, TP(tIoU .5) at 0.5 -> 1*.5 + 2/3*.5; at 0.7 the v2 hit fails -> .5; b: tIoU .9 -> 1, 1
    assert out == {"mAP": {"0.5": pytest.approx((5 / 6 + 1) / 2), "0.7": pytest.approx(0.75)},
                   "average_mAP": pytest.approx(((5 / 6 + 1) / 2 + 0.75) / 2),
                   "ap": {"a": {"0.5": pytest.approx(5 / 6), "0.7": pytest.approx(0.5)},
                          "b": {"0.5": 1.0, "0.7": 1.0}}}


def test_table_output_and_thumos_ambiguous(files, capsys):
    _, folder, pred = files
    assert main(["evaluate", "--ground-truth", folder, "--predictions", pred]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == ["class", "0.1", "0.2", "0.3", "0.4", "0.5"]
    assert lines[1].split() == ["a"] + ["1.0000"] * 5  # the false positive sits on an Ambiguous segment
    assert lines[3].split()[0] == "mAP" and lines[-1].startswith("average mAP over tIoU 0.1..0.5: 1.0000")
    assert "1 detections of classes without ground truth were ignored" in captured.err
    assert main(["evaluate", "--ground-truth", folder, "--predictions", pred, "--no-ambiguous", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ap"]["a"]["0.5"] == pytest.approx(5 / 6)


def test_thumos_folder_as_file_uri_keeps_ambiguous(files, capsys):
    """The same folder named as file:// scores the same: its Ambiguous segments still apply."""
    _, folder, pred = files
    assert main(["evaluate", "--ground-truth", "file://" + folder, "--predictions", pred, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ap"]["a"]["0.5"] == 1.0


def test_thumos14_protocol(files, capsys):
    """The kit's rules on the same files: a's v2 hit has tIoU exactly 0.5, a miss for the kit at 0.5."""
    _, folder, pred = files
    assert main(["evaluate", "--ground-truth", folder, "--predictions", pred, "--protocol", "thumos14",
                 "--tiou", "0.4,0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ap"] == {"a": {"0.4": 1.0, "0.5": 0.5}, "b": {"0.4": 1.0, "0.5": 1.0}}


@pytest.mark.parametrize("extra, message", [(["--tiou", "0.5,x"], "comma-separated numbers"),
                                            (["--tiou", "1.5"], "lie in (0, 1]"),
                                            (["--tiou", "0.5000001,0.5000004"], "differ beyond the digits")])
def test_user_errors_are_one_line(files, capsys, extra, message):
    gt_json, _, pred = files
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", pred] + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("laf evaluate: error:") and message in err and "Traceback" not in err


def test_missing_predictions_file(files, capsys):
    gt_json, _, _ = files
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", "/nonexistent/p.json"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_activitynet_ground_truth_of_several_subsets_needs_one_chosen(files, tmp_path, capsys):
    """Scored against every subset, the training videos' segments would count as missed."""
    from laf.evaluate import annotations

    _, _, pred = files
    both = str(tmp_path / "both.json")
    annotations.write_activitynet(both, GT)
    data = json.loads(open(both).read())
    data["database"]["extra_training_video"] = {"subset": "training", "annotations": [{"label": "a", "segment": [1, 2]}]}
    with open(both, "w") as f:
        json.dump(data, f)
    assert main(["evaluate", "--ground-truth", both, "--predictions", pred]) == 2
    assert "holds the subsets ['training', 'validation']: choose one (--subset)" in capsys.readouterr().err
    assert main(["evaluate", "--ground-truth", both, "--predictions", pred, "--subset", "validation", "--json"]) == 0


def test_predictions_of_videos_without_ground_truth_are_refused_or_noted(files, tmp_path, capsys):
    """None of them in the ground truth printed a table of zeros and exited 0."""
    gt_json, _, _ = files
    other = str(tmp_path / "other.json")
    annotations.write_results(other, [Detection("x1", 0, 10, "a", 0.9), Detection("x2", 0, 5, "b", 0.8)])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", other, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert ("none of the 2 predicted videos is in the ground truth (e.g. 'x1', ground truth e.g. 'v1'): check"
            " --subset") in captured.err
    annotations.write_results(other, DETS + [Detection("x1", 0, 10, "a", 0.9)])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", other]) == 0
    assert "1 of the 3 predicted videos are not in the ground truth (e.g. 'x1')" in capsys.readouterr().err
    annotations.write_results(other, [])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", other]) == 2
    assert "holds no detections" in capsys.readouterr().err


def test_activitynet_download_names_are_matched_to_their_ids(files, tmp_path, capsys):
    """``laf localize videos/v_<id>.mp4 --json`` names a video ``v_<id>``, ActivityNet's ground truth ``<id>``:
    every detection was a false positive, mAP 0."""
    gt_json, _, pred = files
    renamed = str(tmp_path / "renamed.json")
    spelled = {"v1": "v_v1", "v2": "v2.mp4"}
    annotations.write_results(renamed, [dataclasses.replace(d, video_id=spelled[d.video_id]) for d in DETS])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", pred, "--json"]) == 0
    want = json.loads(capsys.readouterr().out)
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", renamed, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == want and want["average_mAP"] > 0.5
    assert "2 predicted video id(s) matched the ground truth by another spelling (e.g. 'v2.mp4' as 'v2')" in captured.err
    annotations.write_results(renamed, [dataclasses.replace(d, video_id="v_v1") for d in DETS[:2]]
                              + [dataclasses.replace(d, video_id="v1.mp4") for d in DETS[2:]])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", renamed]) == 2  # two result lists of v1
    assert "predicted videos ['v1.mp4', 'v_v1'] are all ground-truth video 'v1' by their ids: keep one" in \
        capsys.readouterr().err


def test_ambiguous_segments_of_an_activitynet_file_are_not_a_class(files, tmp_path, capsys):
    """THUMOS14 converted to ActivityNet JSON keeps its Ambiguous segments as a label: scored as a class
    (AP 0) and as wrong detections, they lowered the mAP; scored as the folder scores them now."""
    _, folder, pred = files
    converted = str(tmp_path / "converted.json")
    annotations.write_activitynet(converted, {"v1": GT["v1"] + [Segment(45, 46, "ambiguous")], "v2": GT["v2"]})
    for extra in ([], ["--no-ambiguous"]):
        assert main(["evaluate", "--ground-truth", folder, "--predictions", pred, "--json", *extra]) == 0
        want = json.loads(capsys.readouterr().out)
        assert main(["evaluate", "--ground-truth", converted, "--predictions", pred, "--json", *extra]) == 0
        assert json.loads(capsys.readouterr().out) == want and sorted(want["ap"]) == ["a", "b"]


def test_detections_of_another_spelling_are_named_with_the_ground_truth_s(tmp_path, capsys):
    """A detection class that differs from the ground truth's only in case scored 0 with a bare count."""
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v": {"annotations": [{"label": "Diving", "segment": [1, 2]}]}}}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"results": {"v": [{"label": "diving", "score": 1, "segment": [1, 2]},
                                                   {"label": "Other", "score": 1, "segment": [3, 4]}]}}))
    assert main(["evaluate", "--ground-truth", str(gt), "--predictions", str(pred)]) == 0
    assert ("2 detections of classes without ground truth were ignored ('Other'; 'diving', ground truth has"
            " 'Diving')") in capsys.readouterr().err


def test_ground_truth_classes_of_two_spellings_are_said(tmp_path, capsys):
    """"Long jump" on one video and "Long Jump" on another: two classes, one scored 0, without a word."""
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"a": {"annotations": [{"label": "Long jump", "segment": [1, 2]}]},
                                           "b": {"annotations": [{"label": "Long Jump", "segment": [1, 2]}]}}}))
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps({"results": {v: [{"label": "Long jump", "score": 1, "segment": [1, 2]}] for v in "ab"}}))
    assert main(["evaluate", "--ground-truth", str(gt), "--predictions", str(pred)]) == 0
    assert ("note: ground-truth classes ['Long Jump', 'Long jump'] differ only in case or spacing: scored as 2"
            " classes") in capsys.readouterr().err


def test_a_threshold_of_1_under_the_thumos14_kit_s_rule_is_refused(files, capsys):
    """The kit matches at tIoU > t: every AP was 0, without a word (the ActivityNet rule, >=, takes 1)."""
    gt_json, _, pred = files
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", pred, "--tiou", "0.5,1", "--protocol",
                 "thumos14"]) == 2
    assert "--tiou 1 with --protocol thumos14: the kit counts a match at tIoU > t" in capsys.readouterr().err
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", pred, "--tiou", "0.5,1"]) == 0
