"""Gathering the report's data (laf.report.collect): baselines files and a pipeline root."""
import json

import pytest

from laf.errors import UserError
from laf.report import collect


def test_bad_baselines_are_user_errors(tmp_path):
    bad = tmp_path / "b.json"
    bad.write_text(json.dumps({"cnn": {"hit@1": 0.1}}))
    with pytest.raises(UserError, match="paper_tables"):
        collect.load_baselines(str(bad))
    with pytest.raises(UserError, match="cannot read"):
        collect.load_baselines(str(tmp_path / "missing.json"))
    bad.write_text(json.dumps({"results": {}, "profiles": {"cnn": [0.1, 0.2]}}))  # a list, not {key: [...]}
    with pytest.raises(UserError, match="paper_tables"):
        collect.load_baselines(str(bad))


def test_collect_needs_a_pipeline_root(tmp_path):
    with pytest.raises(UserError, match="metadata.sqlite"):
        collect.collect(str(tmp_path))
