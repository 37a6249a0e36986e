"""Shared test setup: quiet TF noise once, loopback past any proxy, and session-scoped heavy fixtures."""
import os

import pytest

from laf.quiet import quiet

quiet()


def _loopback_past_proxies() -> None:
    """The tests' servers listen on 127.0.0.1: a runner's ``http_proxy`` (urllib does not bypass
    loopback by itself) would send their requests to its proxy. The proxy tests set their own."""
    hosts = [h for name in ("no_proxy", "NO_PROXY") for h in os.environ.get(name, "").split(",") if h.strip()]
    os.environ["no_proxy"] = os.environ["NO_PROXY"] = ",".join(dict.fromkeys(hosts + ["127.0.0.1", "localhost"]))


_loopback_past_proxies()


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


@pytest.fixture(scope="session")
def transfer_world():
    """Synthetic features whose truth is known, for the domain-transfer stage (``transfer_world.build``)."""
    import transfer_world

    return transfer_world.build()


@pytest.fixture(scope="session")
def transfer_run(transfer_world):
    """Two rounds of domain transfer on ``transfer_world`` (thresholds 0.5)."""
    import transfer_world as tw

    return tw.run(transfer_world, theta1=0.5, theta2=0.5, max_rounds=2)
