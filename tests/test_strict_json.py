"""laf.report.strict_json: what bench scripts print as their last line is JSON every parser reads."""
import argparse
import json

import numpy as np
import pytest

from laf.errors import UserError
from laf.report import strict_json
from bench_helpers import last_json


def test_non_finite_numbers_become_null_everywhere():
    value = {"a": float("nan"), "b": [1.0, np.float64("inf"), {"c": np.array([0.5, np.nan])}], "d": (2, "x")}
    line = strict_json.dumps(value)
    assert json.loads(line) == {"a": None, "b": [1.0, None, {"c": [0.5, None]}], "d": [2, "x"]}
    assert "NaN" not in line and "Infinity" not in line


def test_a_bench_that_succeeds_prints_only_its_own_lines(capsys):
    def body():
        print(strict_json.dumps({"x": 1}))
    assert strict_json.bench_main("b", body) == 0
    assert capsys.readouterr().out.strip().splitlines() == ['{"x": 1}']


def test_a_user_mistake_is_one_stderr_line_and_a_json_last_line(capsys):
    def body():
        print("partial progress")
        raise UserError("no such run: /x")
    assert strict_json.bench_main("b", body) == 2
    captured = capsys.readouterr()
    assert last_json(captured.out) == {"bench": "b", "error": "no such run: /x"}
    assert captured.err.strip() == "b: error: no such run: /x"


def test_exits_keep_their_status_and_still_end_in_json(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as usage:
        strict_json.bench_main("b", lambda: parser.parse_args(["--n", "x"]))
    assert usage.value.code == 2
    assert last_json(capsys.readouterr().out) == {"bench": "b", "error": "exit status 2 (see stderr)"}

    def stop():
        raise SystemExit("b: a child failed")
    with pytest.raises(SystemExit, match="a child failed"):
        strict_json.bench_main("b", stop)
    assert last_json(capsys.readouterr().out)["error"] == "b: a child failed"
    with pytest.raises(SystemExit):
        strict_json.bench_main("b", lambda: parser.parse_args(["--help"]))
    assert "{" not in capsys.readouterr().out  # --help is no failure

    def interrupted():
        print("progress 3/10")
        raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C still stops, after the line
        strict_json.bench_main("b", interrupted)
    assert last_json(capsys.readouterr().out) == {"bench": "b", "error": "interrupted"}


def test_an_unexpected_error_keeps_its_traceback(capsys):
    def body():
        return {}["missing"]
    assert strict_json.bench_main("b", body) == 1
    captured = capsys.readouterr()
    assert last_json(captured.out) == {"bench": "b", "error": "KeyError: 'missing'"}
    assert "Traceback" in captured.err
