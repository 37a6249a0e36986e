"""Shared test setup: quiet TF noise once, and session-scoped heavy fixtures."""
import pytest

from laf.quiet import quiet

quiet()


@pytest.fixture(scope="session")
def served_model(tmp_path_factory):
    """A small exported model (with and without its featurizer in the assets) and two real videos."""
    import serving_fixtures

    return serving_fixtures.build(tmp_path_factory.mktemp("served"))
