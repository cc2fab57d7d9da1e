"""A real `sealedreg serve` with auth on, its users and config written first, and
small clients for its token service.

    with run_auth_registry(tmp_path, {"alice": "pw"}, ACL_TOML) as reg:
        tok = reg.token("alice", "repository:a.example/app:pull,push")
        httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/", headers=bearer(tok))
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import httpx

from sealedreg.auth.tokens import Tokens, load_key_file
from sealedreg.auth.users import add_user
from tests.helpers.backends import registry_on
from tests.helpers.server import RunningServer


def new_password() -> str:
    """A distinctive password, easy to look for in logs."""
    return "pw-" + secrets.token_urlsafe(18)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@dataclass
class AuthRegistry:
    server: RunningServer
    data: Path
    config: Path
    users: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def address(self) -> str:
        return self.server.address

    @property
    def log(self) -> Path:
        return self.server.log

    def token_response(self, user: str | None = None, *scopes: str, offline: bool = False,
                       password: str | None = None) -> httpx.Response:
        params: dict[str, object] = {"service": "sealedreg", "scope": list(scopes)}
        if offline:
            params["offline_token"] = "true"
        auth = None
        if user is not None:
            auth = (user, password if password is not None else self.users[user])
        return httpx.get(f"{self.url}/token", params=params, auth=auth)

    def token(self, user: str | None = None, *scopes: str) -> str:
        r = self.token_response(user, *scopes)
        assert r.status_code == 200, r.text
        return r.json()["token"]

    def minter(self, service: str = "sealedreg") -> Tokens:
        """Tokens signed with the registry's own key, as an attacker who stole
        nothing cannot make; for tests of claims the token service never issues."""
        return Tokens(load_key_file(self.data / "token.key"), service)


@contextlib.contextmanager
def run_auth_registry(tmp_path: Path, users: dict[str, str], config_toml: str = "", mode: str = "token",
                      backend: str = "embedded", extra_args: Sequence[str] = ()) -> Iterator[AuthRegistry]:
    """`sealedreg serve` with `users` in its users file and `auth = mode` plus
    `config_toml` in its config file."""
    data = tmp_path / "data"
    for name, password in users.items():
        add_user(data / "users.htpasswd", name, password)
    config = tmp_path / "sealedreg.toml"
    config.write_text(f'auth = "{mode}"\n{config_toml}')
    with registry_on(backend, tmp_path, ["--config", str(config), *extra_args]) as (srv, _):
        yield AuthRegistry(srv, data, config, dict(users))
