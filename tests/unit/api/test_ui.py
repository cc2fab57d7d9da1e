"""The browse page (`/ui/`) in process: what each viewer sees, escaping, the
Basic login, throttling and the security headers (the page in a real browser:
tests/integration/test_ui.py)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from sealedreg.api import ui
from sealedreg.auth import users
from sealedreg.config import AclRule, Config, NamespaceConfig
from sealedreg.protected_files import create_secret
from tests.unit.api.conftest import app_for, push_image

PRIVATE = "p.example/secret-plans"
PUBLIC = "pub.example/tools"
OTHER = "a.example/app"
HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
EVIL_NS = '<b>evil</b>&"ns'


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """A data directory holding a private, a public and another repository
    (pushed with auth off), its users alice and bob, and an org secret."""
    monkeypatch.setattr(users, "BCRYPT_COST", 4)
    data = tmp_path / "data"
    create_secret(tmp_path / "p.secret")
    with TestClient(app_for(config(data, "none"))) as c:
        push_image(c, PRIVATE, "v1", layer=b"shared layer" * 100, annotations={"note": HOSTILE})
        push_image(c, PUBLIC, "1.0", layer=b"shared layer" * 100)
        push_image(c, OTHER, "latest", layer=b"other layer")
    users.add_user(data / "users.htpasswd", "alice", "alice-pw")
    users.add_user(data / "users.htpasswd", "bob", "bob-pw")
    return data


def config(data: Path, auth: str) -> Config:
    return Config(data=data, durable=False, auth=auth, anonymous_pull=["pub.example/**"],
                  namespaces={"p.example": NamespaceConfig(org_secret=data.parent / "p.secret", private=["secret-*"])},
                  acl=[AclRule(["p.example/**", "a.example/**"], ["pull", "push"], users=["alice"]),
                       AclRule(["a.example/**"], ["pull"], users=["bob"])])


@pytest.fixture(params=["token", "basic"])
def client(request, data) -> Iterator[TestClient]:
    with TestClient(app_for(config(data, request.param))) as c:
        yield c


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def assert_safe(r) -> None:
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    style = re.search(r"<style>(.*?)</style>", r.text, re.S).group(1)
    assert f"'sha256-{base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()}'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "<script" not in r.text and "onerror=alert" not in r.text.replace("onerror=alert(2)&gt;", "")


def test_auth_off_shows_everything_escaped(data):
    with TestClient(app_for(config(data, "none"))) as c:
        r = c.get("/ui/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert_safe(r)
        for name in (PRIVATE, PUBLIC, OTHER):
            assert name in r.text
        assert "Auth is off" in r.text and 'id="login"' not in r.text
        assert "private</span>" in r.text  # the private one is marked
        repo = c.get(f"/ui/r/{PRIVATE}")
        assert repo.status_code == 200
        assert_safe(repo)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in repo.text
        assert c.get("/ui", follow_redirects=False).headers["location"] == "/ui/"
        # schemathesis finding: a name with a line break matched no route (a JSON 404), not the page's own 404
        missing = c.get("/ui/r/a%0Ab")
        assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
        assert_safe(missing)


def test_hostile_namespace_names_are_escaped(data):
    cfg = config(data, "none")
    cfg.namespaces[EVIL_NS] = NamespaceConfig()
    with TestClient(app_for(cfg)) as c:
        r = c.get("/ui/")
    assert EVIL_NS not in r.text and "<b>evil" not in r.text
    assert html_escape(EVIL_NS) in r.text


def html_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def test_anonymous_sees_only_anonymous_pull(client):
    r = client.get("/ui/")
    assert r.status_code == 200
    assert_safe(r)
    assert PUBLIC in r.text and 'href="/ui/?login=1"' in r.text
    for hidden in (PRIVATE, "secret-plans", OTHER):
        assert hidden not in r.text
    # the shared layer is shared with a repository the viewer cannot see: not shown as shared
    assert "No blob is held by more than one repository shown." in r.text
    assert "p.example" in r.text  # a configured namespace is listed, without its repositories
    for path in (f"/ui/r/{PRIVATE}", f"/ui/r/{OTHER}", "/ui/r/no/such", "/ui/r/BAD..name"):
        denied = client.get(path)
        assert denied.status_code == 404 and "secret-plans" not in denied.text
    assert client.get(f"/ui/r/{PUBLIC}").status_code == 200


def test_login_link_and_bad_credentials_get_the_basic_challenge(client):
    for headers, query in (({}, "?login=1"), (basic("alice", "wrong"), ""), (basic("nobody", "x"), ""),
                           ({"Authorization": "Basic !!!"}, ""), ({"Authorization": "Bearer x"}, ""),
                           ({"Authorization": "Basic " + "A" * 9000}, "")):
        r = client.get("/ui/" + query, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert r.headers["www-authenticate"].startswith('Basic realm="sealedreg"')
        assert_safe(r)
        assert PUBLIC not in r.text and PRIVATE not in r.text
    assert client.get(f"/ui/r/{PUBLIC}", headers=basic("alice", "wrong")).status_code == 401


def test_a_user_sees_what_the_acl_lets_them_pull(client):
    alice = client.get("/ui/?login=1", headers=basic("alice", "alice-pw"))
    assert alice.status_code == 200 and 'id="user">alice<' in alice.text
    assert PRIVATE in alice.text and OTHER in alice.text and PUBLIC not in alice.text  # no ACL rule gives alice pub
    assert client.get(f"/ui/r/{PRIVATE}", headers=basic("alice", "alice-pw")).status_code == 200
    bob = client.get("/ui/", headers=basic("bob", "bob-pw"))
    assert bob.status_code == 200 and OTHER in bob.text
    assert "secret-plans" not in bob.text and PUBLIC not in bob.text
    assert client.get(f"/ui/r/{PRIVATE}", headers=basic("bob", "bob-pw")).status_code == 404


def test_failed_logins_are_throttled(client):
    throttle = client.app.state.auth.throttle
    throttle.clock = lambda: 1000.0  # a frozen clock: no wall-clock timing in the test
    for _ in range(throttle.allowed):
        assert client.get("/ui/", headers=basic("alice", "wrong")).status_code == 401
    r = client.get("/ui/", headers=basic("alice", "alice-pw"))
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert_safe(r)
    assert client.get("/ui/").status_code == 200  # anonymous viewing checks no password


def test_the_page_is_not_behind_the_v2_access_rule(client):
    assert client.get("/v2/").status_code == 401
    assert client.get("/ui/").status_code == 200


def test_csp_hash_matches_the_style_sheet():
    assert base64.b64encode(hashlib.sha256(ui.CSS.encode()).digest()).decode() in ui.CSP
