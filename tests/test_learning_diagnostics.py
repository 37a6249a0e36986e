"""bench/learning_diagnostics.py: user mistakes are one line, not a traceback (its JSON on a real run
is checked by tests/test_pipeline.py, the numbers' functions in tests/test_diagnostics.py)."""

from bench import learning_diagnostics
from bench_helpers import last_json


def test_a_folder_that_is_no_run_is_a_one_line_error(tmp_path, capsys):
    assert learning_diagnostics.main(["--pipeline-root", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("learning_diagnostics: error:") and "metadata.sqlite not found" in err
    assert len(err.strip().splitlines()) == 1
    assert "metadata.sqlite not found" in last_json(captured.out)["error"]


def test_gate_memory_off_serves_the_same_weights_without_the_memory(tmp_path):
    import numpy as np
    import pytest
    import tensorflow as tf

    from laf.errors import UserError
    from schemas.records import VideoRecord
    from trainer import model, serving

    tf.keras.utils.set_random_seed(5)
    with_gate = model.build("lstmp", 3, cells=12, projection=6)
    with_gate(tf.zeros([1, 1, 10]))
    with_gate.seen_gate.configure(model.sibling_targets(np.array([[1, 0], [1, 0], [0, 1]], np.float32)), 1.0)
    with_gate.actionness_head.kernel.assign(with_gate.actionness_head.kernel * 50)  # decisive frames, then low ones
    serving.export(with_gate, 10, str(tmp_path / "gated"))
    steps = np.random.RandomState(2).randn(30, 10).astype(np.float32) * 3
    records = [VideoRecord("v", "A:x", 0, steps, np.arange(30, dtype=np.float32), 1.0, 30.0)]
    on, off = (learning_diagnostics.model_outputs(str(tmp_path / "gated"), records, memory)[0]["probabilities"]
               for memory in (True, False))
    assert np.abs(on - off).max() > 1e-3
    np.testing.assert_allclose(on.sum(-1), off.sum(-1), atol=1e-5)
    plain = model.build("lstmp", 3, cells=12, projection=6, actionness=False)
    plain(tf.zeros([1, 1, 10]))
    serving.export(plain, 10, str(tmp_path / "plain"))
    with pytest.raises(UserError, match="no seen gate memory"):
        learning_diagnostics.model_outputs(str(tmp_path / "plain"), records, False)
