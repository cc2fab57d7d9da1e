"""Fixtures shared by the registry's unit tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from sealedreg.registry.index import Index


@pytest.fixture
def index(tmp_path) -> Iterator[Index]:
    """A fresh registry index in the test's temp dir, closed afterwards."""
    idx = Index(tmp_path / "index.sqlite")
    yield idx
    idx.close()
