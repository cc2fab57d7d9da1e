from __future__ import annotations

import pytest

from sealedreg.auth import users


@pytest.fixture(autouse=True)
def cheap_bcrypt(monkeypatch):
    """Unit tests hash at bcrypt's lowest cost (the format is the same)."""
    monkeypatch.setattr(users, "BCRYPT_COST", 4)
