"""``laf evaluate`` run as a user runs it (in-process through ``laf.cli.main``)."""
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


def test_predictions_of_videos_without_ground_truth_are_noted(files, tmp_path, capsys):
    gt_json, _, _ = files
    other = str(tmp_path / "other.json")
    annotations.write_results(other, [Detection("x1", 0, 10, "a", 0.9), Detection("x2", 0, 5, "b", 0.8)])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", other, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["average_mAP"] == 0.0
    assert "none of the 2 predicted videos is in the ground truth (e.g. 'x1'): check --subset" in captured.err
    annotations.write_results(other, DETS + [Detection("x1", 0, 10, "a", 0.9)])
    assert main(["evaluate", "--ground-truth", gt_json, "--predictions", other]) == 0
    assert "1 of the 3 predicted videos are not in the ground truth (e.g. 'x1')" in capsys.readouterr().err


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
