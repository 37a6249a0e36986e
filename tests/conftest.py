"""Shared test setup: quiet TF noise once, and session-scoped heavy fixtures."""
import pytest

from laf.quiet import quiet

quiet()


@pytest.fixture(scope="session")
def served_model(tmp_path_factory):
    """A small exported model (with and without its featurizer in the assets) and two real videos."""
    import serving_fixtures

    return serving_fixtures.build(tmp_path_factory.mktemp("served"))


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """(folder, demo_data.json's content) of the TINY demo data set, rendered by two processes."""
    from demo_fixtures import TINY
    from laf.demo.dataset import generate

    root = str(tmp_path_factory.mktemp("demo"))
    return root, generate(root, TINY, workers=2)
