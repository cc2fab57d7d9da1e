"""The server's composition root builds each part once and refuses bad setups
before listening."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from sealedreg import server
from sealedreg.auth import startup, users
from sealedreg.auth.startup import AuthConfigError
from sealedreg.config import Config


@pytest.fixture
def counted(monkeypatch):
    calls = {"policy": 0, "token key": 0, "registry": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return fn(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(server, "load_policy", counting("policy", server.load_policy))
    monkeypatch.setattr(server, "open_registry", counting("registry", server.open_registry))
    monkeypatch.setattr(startup, "load_or_create_key", counting("token key", startup.load_or_create_key))
    return calls


def test_policy_token_key_and_registry_are_built_once(tmp_path, counted, monkeypatch):
    monkeypatch.setattr(users, "BCRYPT_COST", 4)
    users.add_user(tmp_path / "data" / "users.htpasswd", "alice", "pw")
    assembled = server.assemble(Config(data=tmp_path / "data", durable=False))
    assert assembled.auth_line.startswith("auth: token")
    with TestClient(assembled.app) as client:
        assert client.get("/v2/").status_code == 401
        assert client.get("/v2/").headers["docker-distribution-api-version"] == "registry/2.0"
    assert counted == {"policy": 1, "token key": 1, "registry": 1}


def test_no_auth_on_a_public_address_is_refused_before_anything_opens(tmp_path, counted):
    with pytest.raises(AuthConfigError, match="refusing to listen"):
        server.assemble(Config(data=tmp_path / "data", listen="0.0.0.0:5000"))
    assert counted["registry"] == 0 and not (tmp_path / "data").exists()


def test_federated_repositories_are_private_to_anonymous_callers(tmp_path, monkeypatch):
    # an open mirror must not hand partners' images sealed to this org to anyone
    monkeypatch.setattr(users, "BCRYPT_COST", 4)
    users.add_user(tmp_path / "data" / "users.htpasswd", "alice", "pw")
    assembled = server.assemble(Config(data=tmp_path / "data", durable=False, federate=["*"],
                                       anonymous_pull=["**"]))
    acl = assembled.app.state.auth.acl
    assert acl.repository_actions(None, "local/app") == {"pull"}
    assert acl.repository_actions(None, "acme.test/secret") == frozenset()
    exact = server.assemble(Config(data=tmp_path / "data", durable=False, federate=["*"],
                                   anonymous_pull=["acme.test/base"])).app.state.auth.acl
    assert exact.repository_actions(None, "acme.test/base") == {"pull"}  # named exactly: allowed
