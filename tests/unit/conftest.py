from __future__ import annotations

import pytest

from sealedreg.storage.embedded import EmbeddedStore


@pytest.fixture
def store(tmp_path) -> EmbeddedStore:
    """An embedded block store in the test's temp dir (no fsync: unit tests)."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return EmbeddedStore(tmp_path / "blocks", tmp_path / "tmp", durable=False)
