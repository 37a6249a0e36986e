"""laf.report.strict_json: what bench scripts print as their last line is JSON every parser reads."""
import json

import numpy as np

from laf.report import strict_json


def test_non_finite_numbers_become_null_everywhere():
    value = {"a": float("nan"), "b": [1.0, np.float64("inf"), {"c": np.array([0.5, np.nan])}], "d": (2, "x")}
    line = strict_json.dumps(value)
    assert json.loads(line) == {"a": None, "b": [1.0, None, {"c": [0.5, None]}], "d": [2, "x"]}
    assert "NaN" not in line and "Infinity" not in line
