"""Readable messages for TFDV anomalies, so a data-contract violation fails a run clearly."""
from __future__ import annotations

from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2


def describe(anomalies: anomalies_pb2.Anomalies) -> List[str]:
    """One line per anomalous feature (and one for dataset-level anomalies)."""
    lines = []
    for feature, info in sorted(anomalies.anomaly_info.items()):
        reasons = "; ".join(r.description or r.short_description for r in info.reason)
        lines.append(f"{feature}: {info.short_description or reasons} ({reasons})")
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        lines.append(f"dataset: {info.short_description or info.description}")
    return lines


def load(path: str) -> anomalies_pb2.Anomalies:
    import tensorflow as tf

    result = anomalies_pb2.Anomalies()
    with tf.io.gfile.GFile(path, "rb") as f:
        result.ParseFromString(f.read())
    return result
