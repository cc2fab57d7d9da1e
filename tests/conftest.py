from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.backends import BACKENDS, registry_on
from tests.helpers.server import RunningServer, run_registry


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh `sealedreg serve` on the embedded store, stopped after the test."""
    with run_registry(tmp_path / "data") as srv:
        yield srv


@pytest.fixture(params=BACKENDS)
def any_registry(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RunningServer]:
    """A fresh `sealedreg serve` on each storage backend in turn (Kubo: a real daemon)."""
    with registry_on(request.param, tmp_path) as (srv, _):
        yield srv


@pytest.fixture(scope="module")
def shared_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One registry for a whole test module (for suites that push many images)."""
    with run_registry(tmp_path_factory.mktemp("reg") / "data") as srv:
        yield srv


@pytest.fixture(scope="session")
def kubo_built() -> None:
    """Kubo is built (or cached); a build failure fails the tests that need it, never skips them."""
    from tests.helpers.kubo import KuboError, kubo_binary

    try:
        kubo_binary()
    except KuboError as e:
        pytest.fail(f"cannot build Kubo:\n{e}", pytrace=False)
