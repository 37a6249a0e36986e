"""components.validation_gate: anomalies fail the run with one line per anomaly, as a user error."""
import os

import pytest
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.types import standard_artifacts

from components.validation_gate.executor import Executor
from laf.errors import UserError


def _anomalies(tmp_path, found: bool):
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = str(tmp_path / "anomalies")
    artifact.split_names = '["train"]'
    anomalies = anomalies_pb2.Anomalies()
    if found:
        info = anomalies.anomaly_info["frame_features"]
        info.short_description = "Unexpected length"
        info.reason.add(description="some frames have 576 values, the schema says 48")
    os.makedirs(os.path.join(artifact.uri, "Split-train"))
    with open(os.path.join(artifact.uri, "Split-train", "SchemaDiff.pb"), "wb") as f:
        f.write(anomalies.SerializeToString())
    return {"anomalies": [artifact]}


def test_anomalies_are_a_user_error_with_one_line_each(tmp_path):
    with pytest.raises(UserError) as info:
        Executor().Do(_anomalies(tmp_path, found=True), {}, {"dataset_name": "Video"})
    assert str(info.value).splitlines() == [
        "Video data violates the schema:",
        "  [train] frame_features: Unexpected length (some frames have 576 values, the schema says 48)"]


def test_no_anomalies_pass(tmp_path):
    Executor().Do(_anomalies(tmp_path, found=False), {}, {"dataset_name": "Video"})


def test_anomalies_that_name_no_split_do_not_pass(tmp_path):
    """Without its split names (a launcher that dropped the artifact's metadata) the gate checked nothing
    and passed."""
    given = _anomalies(tmp_path, found=True)
    given["anomalies"][0].split_names = ""
    with pytest.raises(UserError, match="Video anomalies at .* name no split"):
        Executor().Do(given, {}, {"dataset_name": "Video"})
