"""laf.serve.upgrade: a model exported by an older version gets today's signatures with its outputs unchanged."""
import os

import numpy as np
import pytest

from laf.serve import live
from schemas.vocabulary import Vocabulary

VOCABULARY = Vocabulary.build(["Ball:Kick", "Ball:Throw", "Swim:Dive"])


def _export_without_step(net, path: str, windows=None) -> None:
    """``net`` exported as before ``localize_step`` existed (10-d features)."""
    import keras

    from trainer import serving

    archive = keras.export.ExportArchive()
    archive.track(net)
    for name, (fn, spec) in serving.serving_endpoints(net, 10, windows).items():
        if name != "localize_step":
            archive.add_endpoint(name, fn, input_signature=spec)
    archive.write_out(path, verbose=False)


def test_a_model_from_before_the_gates_memory_is_upgraded_with_the_same_outputs(tmp_path, monkeypatch):
    import tensorflow as tf

    from laf.serve.upgrade import add_step_signature
    from trainer import model, serving
    from trainer.seen_gate import SeenGate

    def without_memory(gate, shape):  # the gate as it was: siblings and step, no seen_memory weight
        n = gate.num_classes
        gate.siblings = gate.add_weight(shape=(n, n), initializer="identity", trainable=False, name="seen_siblings")
        gate.keep = gate.add_weight(shape=(), initializer="zeros", trainable=False, name="seen_keep")
        gate.remember = 0.0

    with monkeypatch.context() as patch:
        patch.setattr(SeenGate, "build", without_memory)
        net = model.build("lstmp", 3, cells=12, projection=6)
        net(tf.zeros([1, 1, 10]))
        net.seen_gate.siblings.assign(model.sibling_targets(VOCABULARY.activity_matrix()))
        net.seen_gate.keep.assign(0.9)
        net.actionness_head.kernel.assign(net.actionness_head.kernel * 50)  # decisive frames, then low ones
        serving.export(net, 10, str(tmp_path / "old"))
    assert "seen_memory" not in {v.path.split("/")[-1] for v in net.variables}
    new = tf.saved_model.load(add_step_signature(str(tmp_path / "old"), str(tmp_path / "new")))  # outputs checked equal
    memory = [v for v in new.variables if "seen_memory" in v.name]
    assert len(memory) == 1 and float(memory[0]) == 0.0  # the gate stays as it was
    x = tf.constant(np.random.RandomState(1).randn(1, 30, 10).astype(np.float32) * 3)
    served = new.signatures["frame_features"](frame_features=x, lengths=tf.constant([30]))["probabilities"]
    memory[0].assign(1.0)  # the memory would have changed this model's outputs: the check above was not vacuous
    remembered = new.signatures["frame_features"](frame_features=x, lengths=tf.constant([30]))["probabilities"]
    assert np.abs(served.numpy() - remembered.numpy()).max() > 1e-3


def test_an_older_model_gets_localize_step_with_the_same_outputs(tmp_path):
    import keras
    import tensorflow as tf

    from laf.errors import UserError
    from laf.serve.upgrade import add_step_signature, architecture
    from trainer import model

    keras.utils.set_random_seed(3)
    net = model.build("lstmp", 4, cells=12, projection=6, num_layers=2)
    net.seen_gate = None  # as before trainer.seen_gate existed: the upgrade adds it as the identity
    net(tf.zeros([1, 1, 10]))
    net.standardize.set_moments(np.linspace(-1, 1, 10), np.linspace(0.5, 2, 10))
    _export_without_step(net, str(tmp_path / "old"))
    VOCABULARY.save(str(tmp_path / "old" / "assets"))
    new = add_step_signature(str(tmp_path / "old"), str(tmp_path / "new"))
    assert os.path.isfile(os.path.join(new, "assets", "labels.json"))
    step = live.LocalStepper(new)
    assert step.widths == (16, 25)  # two layers: r 6 + 6 + the seen gate's memory (4 classes), c 12 + 12 + its 1
    x = np.random.RandomState(0).randn(9, 10).astype(np.float32)
    chained = np.concatenate([step.step(x[a:b])[0] for a, b in ((0, 4), (4, 9))])
    whole = tf.saved_model.load(str(tmp_path / "old")).signatures["frame_features"](
        frame_features=tf.constant(x[None]), lengths=tf.constant([9]))
    np.testing.assert_allclose(chained, whole["probabilities"].numpy()[0], atol=1e-6)
    cnn = model.build("cnn", 4)
    cnn(tf.zeros([1, 1, 10]))
    with pytest.raises(UserError, match="only LSTMP models"):
        architecture(cnn.variables)


def test_an_upgrade_keeps_the_old_model_s_localize_windows_or_refuses(tmp_path):
    import keras
    import tensorflow as tf

    from laf.errors import UserError
    from laf.evaluate.evaluation import LocalizeConfig
    from laf.serve.upgrade import add_step_signature
    from trainer import model

    keras.utils.set_random_seed(4)
    net = model.build("lstmp", 4, cells=12, projection=6)  # with actionness: window scales apply
    net(tf.zeros([1, 1, 10]))
    windows = LocalizeConfig(window=4, scales=(0.5, 1.0, 2.0))
    _export_without_step(net, str(tmp_path / "old"), windows)
    with pytest.raises(UserError, match="other segments than windows of"):
        add_step_signature(str(tmp_path / "old"), str(tmp_path / "default"))
    assert sorted(os.listdir(tmp_path)) == ["old"]  # nothing left of the refused copy
    for existing in (tmp_path / "old", tmp_path):  # the model itself, or the serving folder of every version
        with pytest.raises(UserError, match="already exists"):
            add_step_signature(str(tmp_path / "old"), str(existing), windows)
    assert tf.saved_model.load(str(tmp_path / "old")).signatures["localize"] is not None
    assert os.path.isdir(add_step_signature(str(tmp_path / "old"), str(tmp_path / "new"), windows))
    assert sorted(os.listdir(tmp_path)) == ["new", "old"]


def test_an_upgrade_that_drops_the_old_model_s_evidence_runs_is_refused(tmp_path):
    """The check ran on 17 random steps: no evidence run (longer than the longest window, here 20)
    fits in them, so an upgrade without the old model's run_thresholds passed and the upgraded model
    lost those segments on real videos."""
    import keras
    import tensorflow as tf

    from laf.errors import UserError
    from laf.evaluate.evaluation import LocalizeConfig
    from laf.serve.upgrade import add_step_signature
    from trainer import model

    keras.utils.set_random_seed(5)
    net = model.build("lstmp", 4, cells=12, projection=6)
    net(tf.zeros([1, 1, 10]))
    runs = LocalizeConfig(window=10, scales=(0.5, 1.0, 2.0), run_thresholds=(0.2, 0.5))
    _export_without_step(net, str(tmp_path / "old"), runs)
    with pytest.raises(UserError, match="other segments than windows of"):
        add_step_signature(str(tmp_path / "old"), str(tmp_path / "no_runs"),
                           LocalizeConfig(window=10, scales=(0.5, 1.0, 2.0), run_thresholds=()))
    assert os.path.isdir(add_step_signature(str(tmp_path / "old"), str(tmp_path / "new"), runs))


def test_an_upgrade_keeps_localize_frames(served_model, tmp_path):
    """A model that answers encoded frames (backbone in the graph) still does after the upgrade,
    with the featurizer its assets carry, and answers them the same."""
    import tensorflow as tf

    from laf.serve.upgrade import add_step_signature, probe_frames
    from serving_fixtures import CONFIG

    new = add_step_signature(served_model.pushed, str(tmp_path / "2"), CONFIG)
    inputs = probe_frames(5)
    want, got = ({k: v.numpy() for k, v in tf.saved_model.load(m).signatures["localize_frames"](**inputs).items()}
                 for m in (served_model.pushed, new))
    assert sorted(got) == sorted(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=1e-5, err_msg=name)
    assert sorted(os.listdir(os.path.join(new, "assets"))) == sorted(os.listdir(os.path.join(served_model.pushed,
                                                                                             "assets")))


@pytest.mark.parametrize("change", ["layer", "weights"])
def test_an_upgrade_that_cannot_keep_localize_frames_is_refused(served_model, tmp_path, change):
    """Assets whose featurizer is not the one in the model: another layer (another feature size) made
    the export leave localize_frames out with only a warning, and the upgrade passed without a
    signature the old model had; other weights of the same size would answer it differently."""
    import json
    import shutil
    import warnings

    from laf.errors import UserError
    from laf.serve.upgrade import add_step_signature
    from serving_fixtures import CONFIG

    old = str(tmp_path / "old")
    shutil.copytree(served_model.pushed, old)
    path = os.path.join(old, "assets", "features.json")
    with open(path) as f:
        features = json.load(f)
    if change == "layer":
        features["backbone"]["layer"] = "expanded_conv_3_squeeze_excite_mul"  # 96-d, the net takes the 576-d top
    else:
        assert features["backbone"]["weights"] not in ("none", "imagenet")  # the calibrated file in the assets
        features["backbone"]["weights"] = "none"  # random-init: the same 576-d, other features
    with open(path, "w") as f:
        json.dump(features, f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the layer's: "exported without localize_frames"
        with pytest.raises(UserError, match="its localize_frames signature cannot be rebuilt"):
            add_step_signature(old, str(tmp_path / "2"), CONFIG)
    assert not os.path.exists(tmp_path / "2") and not os.path.exists(tmp_path / "2.partial")


def test_the_architecture_is_read_when_the_classes_are_four_times_the_cells():
    """200 classes with 50 cells: the softmax's bias, 4 x cells long, was taken for an LSTMP bias, and the
    upgrade was refused naming a weight of the wrong size."""
    import tensorflow as tf

    from laf.serve import upgrade
    from trainer import model

    net = model.build("lstmp", 12, cells=3, projection=2)
    net(tf.zeros([1, 1, 5]))
    arch = upgrade.architecture(upgrade.classifier_variables(net.variables))
    assert (arch["num_classes"], arch["cells"], arch["actionness"], arch["feature_dim"]) == (12, 3, True, 5)
