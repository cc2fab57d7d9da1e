"""Fixtures shared by the registry's unit tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from sealedreg.datadir import DataDir
from sealedreg.registry.index import Index


@pytest.fixture
def index(tmp_path) -> Iterator[Index]:
    """A fresh registry index in the test's temp dir, closed afterwards."""
    idx = Index(tmp_path / "index.sqlite")
    yield idx
    idx.close()


@pytest.fixture
def datadir(tmp_path) -> DataDir:
    """A prepared data directory in the test's temp dir."""
    d = DataDir(tmp_path / "data")
    d.prepare()
    return d
