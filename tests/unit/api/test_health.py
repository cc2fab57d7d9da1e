"""/healthz and /readyz (sealedreg/api/health.py, Registry.ready)."""

from __future__ import annotations

import shutil

from starlette.testclient import TestClient

from sealedreg.config import Config
from tests.helpers.server import free_port
from tests.unit.api.conftest import app_for


def test_alive_and_ready(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "alive"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    assert r.headers["cache-control"] == "no-store"


def test_a_closed_index_is_not_ready(client):
    client.app.state.registry.index.close()
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json() == {"status": "not ready", "failed": ["index"]}
    assert client.get("/healthz").status_code == 200  # alive all the same


def test_a_missing_block_directory_is_not_ready_and_says_no_path(client, tmp_path):
    shutil.rmtree(tmp_path / "data" / "blocks")
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["failed"] == ["store"]
    assert str(tmp_path) not in r.text and "blocks" not in r.text


def test_a_dead_kubo_is_not_ready(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = app_for(Config(data=tmp_path / "data", durable=False, store="kubo", ipfs_api=dead))
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json() == {"status": "not ready", "failed": ["store"]}
        assert "127.0.0.1" not in r.text


def test_probes_need_no_credential(tmp_path, monkeypatch):
    from sealedreg.auth import users

    monkeypatch.setattr(users, "BCRYPT_COST", 4)
    users.add_user(tmp_path / "data" / "users.htpasswd", "alice", "pw")
    with TestClient(app_for(Config(data=tmp_path / "data", durable=False)), client=("127.0.0.1", 1)) as c:
        assert c.get("/v2/").status_code == 401  # auth is on
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
        assert c.get("/metrics").status_code == 200
