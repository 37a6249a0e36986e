"""laf.transfer.config: the library's defaults are the product's, and settings that would train
nothing are refused."""
import dataclasses

import pytest

from laf.errors import UserError
from laf.transfer.config import TransferConfig, from_properties


def test_the_library_s_defaults_are_the_pipeline_config_s():
    """A DomainTransfer component built without arguments, or the library called alone, filtered at
    theta 0.5 with 3 epochs where `laf run` filters at 0.1 with 5."""
    from components.domain_transfer.component import DomainTransferSpec
    from pipeline.config import DomainTransferConfig

    product, library = dataclasses.asdict(DomainTransferConfig()), dataclasses.asdict(TransferConfig())
    shared = set(product) & set(library)
    assert shared >= {"theta1", "theta2", "epochs", "max_rounds", "hidden_units", "learning_rate"}
    assert {k: list(library[k]) if k == "hidden_units" else library[k] for k in shared} == \
        {k: product[k] for k in shared}
    assert set(DomainTransferSpec.PARAMETERS) - {"code_version"} <= shared


@pytest.mark.parametrize("field, value, message", [
    ("learning_rate", 0.0, "learning_rate must be > 0, got 0.0"),
    ("svm_l2", -1e-4, "svm_l2 must be >= 0"),
    ("hidden_units", (), "hidden_units must be one or more positive layer sizes, got \\[\\]")])
def test_settings_that_would_train_nothing_are_refused(field, value, message):
    """A rate of 0 left the heads at their random init: random image filter and LAF scores, and a run
    that finished as if nothing were wrong."""
    with pytest.raises(UserError, match=message):
        dataclasses.replace(TransferConfig(), **{field: value}).validate()


def test_a_run_s_properties_give_the_config_it_ran_with():
    """The executor and the paper tables' re-run read the same properties: MLMD stores hidden_units as
    JSON text and may give a float property as an int; an unset optional property takes the default."""
    props = {"theta1": 1, "theta2": 0.25, "max_rounds": 2, "hidden_units": "[32, 16]", "epochs": 4, "batch_size": 64,
             "min_images_per_class": 3, "min_frames_per_class": None, "learning_rate": 0.01, "svm_epochs": None,
             "seed": 7, "code_version": "abc"}
    config = from_properties(props)
    assert config == dataclasses.replace(TransferConfig(), theta1=1.0, theta2=0.25, max_rounds=2, hidden_units=(32, 16),
                                         epochs=4, batch_size=64, min_images_per_class=3, learning_rate=0.01, seed=7)
    assert isinstance(config.theta1, float) and from_properties({**props, "hidden_units": [8]}).hidden_units == (8,)
    assert from_properties({"theta1": 0.2}) == dataclasses.replace(TransferConfig(), theta1=0.2)  # the rest unset
