"""laf.transfer.outputs: rounds.json, its TensorBoard scalars and the LAF model as the component writes them."""
import json
import os

import numpy as np
import tensorflow as tf

from laf.transfer import outputs
from transfer_world import D


def test_round_log_format_and_model(transfer_world, transfer_run, tmp_path):
    log = transfer_run.rounds_json()
    assert set(log) == {"rounds", "chosen_round", "stop_reason", "theta1", "theta2"}
    assert log["stop_reason"] == (f"max_rounds ({transfer_run.config.max_rounds}) reached"
                                  if log["chosen_round"] == len(log["rounds"])
                                  else f"validation accuracy fell in round {len(log['rounds'])}"
                                  f" ({log['rounds'][-1]['val_accuracy']:.4f} after"
                                  f" {log['rounds'][-2]['val_accuracy']:.4f})")
    for i, entry in enumerate(log["rounds"], 1):
        assert set(entry) == {"round", "images_kept", "images_kept_per_class", "frames_kept", "val_accuracy"}
        assert entry["round"] == i and sum(entry["images_kept_per_class"].values()) == entry["images_kept"]
    chosen = log["rounds"][log["chosen_round"] - 1]
    assert chosen["images_kept"] == transfer_run.image_mask.sum()
    assert chosen["frames_kept"] == transfer_run.frame_mask.sum()
    # LAF(V) is CNN_i(V)[a], also after a SavedModel round trip
    export = outputs.save_laf_model(transfer_run.model, str(tmp_path / "laf_model"), D)
    serve = tf.saved_model.load(export).signatures["serving_default"]
    train = transfer_world["train"]
    probs = serve(features=tf.constant(train.features[:50]))["probabilities"].numpy()
    np.testing.assert_allclose(probs[np.arange(50), train.labels[:50]], transfer_run.laf[:50], rtol=1e-5)
    path = outputs.write_rounds(transfer_run, str(tmp_path / "rounds"))
    with open(path) as f:
        assert json.load(f) == json.loads(json.dumps(log))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "rounds"))
