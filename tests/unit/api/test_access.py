"""Each route's declared need and the per-request decision, in process (the
real-server versions of these are in tests/integration/test_auth*.py)."""

from __future__ import annotations

import hashlib
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from sealedreg.api.access import PULLS, access_of, check_routes, need_of, requires
from sealedreg.api.app import ROUTES
from sealedreg.auth import users
from sealedreg.config import AclRule, Config
from tests.unit.api.conftest import app_for

DIGEST = "sha256:" + hashlib.sha256(b"x").hexdigest()


def scope(method: str, path: str, query: str = "") -> dict:
    return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": query.encode(),
            "headers": []}


def need(method: str, path: str, query: str = "") -> list[str]:
    n = need_of(ROUTES, scope(method, path, query))
    return [str(s) for s in n.scopes] + [f"optional {s}" for s in n.optional]


def test_every_v2_route_declares_its_need():
    check_routes(ROUTES)
    from starlette.routing import Route

    assert all(access_of(r.endpoint) is not None for r in ROUTES if r.path.startswith("/v2"))
    with pytest.raises(RuntimeError, match="no access rule"):
        check_routes([Route("/v2/{name:path}/new", lambda r: None)])

    @requires(PULLS)
    async def declared(request):
        return None

    check_routes([Route("/v2/{name:path}/new", declared)])


@pytest.mark.parametrize("method,path,query,expected", [
    ("GET", "/v2/", "", []),
    ("GET", "/v2", "", []),
    ("GET", "/v2/_catalog", "", ["registry:catalog:*"]),
    ("HEAD", "/v2/a/b/blobs/" + DIGEST, "", ["repository:a/b:pull"]),
    ("GET", "/v2/a/b/manifests/latest", "", ["repository:a/b:pull"]),
    ("HEAD", "/v2/a/b/manifests/latest", "", ["repository:a/b:pull"]),
    ("GET", "/v2/a/b/tags/list", "", ["repository:a/b:pull"]),
    ("GET", "/v2/a/b/referrers/" + DIGEST, "", ["repository:a/b:pull"]),
    ("POST", "/v2/a/b/blobs/uploads/", "", ["repository:a/b:pull,push"]),
    ("POST", "/v2/a/b/blobs/uploads", "", ["repository:a/b:pull,push"]),
    ("PATCH", "/v2/a/b/blobs/uploads/abc", "", ["repository:a/b:pull,push"]),
    ("PUT", "/v2/a/b/blobs/uploads/abc", "digest=" + DIGEST, ["repository:a/b:pull,push"]),
    ("GET", "/v2/a/b/blobs/uploads/abc", "", ["repository:a/b:pull,push"]),
    ("DELETE", "/v2/a/b/blobs/uploads/abc", "", ["repository:a/b:pull,push"]),
    ("PUT", "/v2/a/b/manifests/v1", "", ["repository:a/b:pull,push"]),
    ("DELETE", "/v2/a/b/manifests/" + DIGEST, "", ["repository:a/b:delete"]),
    ("DELETE", "/v2/a/b/blobs/" + DIGEST, "", ["repository:a/b:delete"]),
    ("POST", "/v2/a/b/blobs/uploads/", f"mount={DIGEST}&from=c/d",
     ["repository:a/b:pull,push", "optional repository:c/d:pull"]),
    ("POST", "/v2/a/b/blobs/uploads/", f"mount={DIGEST}&from=../x", ["repository:a/b:pull,push"]),
    # names the grammar refuses need only a credential; the endpoint then answers NAME_INVALID
    ("GET", "/v2/a/../b/tags/list", "", []),
    ("GET", "/v2/A/tags/list", "", []),
    # unknown paths and methods: a credential, then 404/405
    ("GET", "/v2/a/b/nothing", "", []),
    ("POST", "/v2/a/b/tags/list", "", []),
])
def test_route_scopes(method, path, query, expected):
    assert need(method, path, query) == expected


# --------------------------------------------------------------------------- in-process flows


@pytest.fixture
def app_client(tmp_path) -> Iterator[TestClient]:
    data = tmp_path / "data"
    users.add_user(data / "users.htpasswd", "alice", "alice-pw")
    users.add_user(data / "users.htpasswd", "bob", "bob-pw")
    config = Config(data=data, durable=False, auth="token", acl=[
        AclRule(["a/**"], ["pull", "push", "delete"], users=["alice"]),
        AclRule(["a/**"], ["pull"], users=["bob"]),
    ])
    with TestClient(app_for(config)) as c:
        yield c


def token(client: TestClient, user: str, pw: str, *scopes: str) -> str:
    r = client.get("/token", params={"service": "sealedreg", "scope": list(scopes)}, auth=(user, pw))
    assert r.status_code == 200, r.text
    return r.json()["token"]


def test_flow_in_process(app_client):
    r = app_client.get("/v2/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="http://testserver/token",service="sealedreg"'
    r = app_client.head("/v2/a/x/manifests/latest")
    assert r.status_code == 401 and r.content == b""
    assert 'scope="repository:a/x:pull,push"' in r.headers["www-authenticate"]
    t = token(app_client, "alice", "alice-pw", "repository:a/x:pull,push")
    h = {"Authorization": f"Bearer {t}"}
    assert app_client.get("/v2/", headers=h).status_code == 200
    r = app_client.post(f"/v2/a/x/blobs/uploads/?digest={DIGEST}", content=b"x", headers=h)
    assert r.status_code == 201, r.text
    r = app_client.delete(f"/v2/a/x/blobs/{DIGEST}", headers=h)
    assert r.status_code == 401
    assert r.headers["www-authenticate"].endswith('scope="repository:a/x:delete",error="insufficient_scope"')
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"
    t_bob = token(app_client, "bob", "bob-pw", "repository:a/x:pull,push")
    hb = {"Authorization": f"Bearer {t_bob}"}
    assert app_client.get(f"/v2/a/x/blobs/{DIGEST}", headers=hb).content == b"x"
    assert app_client.post("/v2/a/x/blobs/uploads/", headers=hb).status_code == 401
    # names that fail the grammar: 401 without a credential, NAME_INVALID with one
    assert app_client.get("/v2/a/%2e%2e/x/tags/list").status_code == 401
    r = app_client.get("/v2/a/%2e%2e/x/tags/list", headers=h)
    assert r.status_code in (400, 404) and r.json()["errors"][0]["code"] in ("NAME_INVALID", "NAME_UNKNOWN")


def test_token_endpoint_only_in_token_mode(tmp_path):
    with TestClient(app_for(Config(data=tmp_path / "d", durable=False))) as c:
        assert c.get("/token").status_code == 404
        assert c.get("/v2/").status_code == 200


# --------------------------------------------------------------------------- blobs another repository holds


@pytest.fixture
def discovery_client(tmp_path) -> Iterator[tuple[TestClient, str]]:
    """Basic mode: alice owns everything; carol may pull `secret/**` and push
    `c/**`; bob may push `b/**` but not read `secret/**`; dave only pulls `c/**`
    and `secret/**`. `secret/x` holds one blob."""
    data = tmp_path / "data"
    for name in ("alice", "bob", "carol", "dave"):
        users.add_user(data / "users.htpasswd", name, f"{name}-pw")
    config = Config(data=data, durable=False, auth="basic", acl=[
        AclRule(["**"], ["pull", "push", "delete"], users=["alice"]),
        AclRule(["b/**"], ["pull", "push"], users=["bob"]),
        AclRule(["c/**"], ["pull", "push"], users=["carol"]),
        AclRule(["secret/**"], ["pull"], users=["carol", "dave"]),
        AclRule(["c/**"], ["pull"], users=["dave"]),
    ])
    with TestClient(app_for(config)) as c:
        r = c.post(f"/v2/secret/x/blobs/uploads/?digest={DIGEST}", content=b"x", auth=("alice", "alice-pw"))
        assert r.status_code == 201, r.text
        yield c, DIGEST


def test_discovery_reveals_nothing_a_caller_cannot_read(discovery_client):
    c, d = discovery_client
    bob = ("bob", "bob-pw")
    assert c.head(f"/v2/b/y/blobs/{d}", auth=bob).status_code == 404
    assert c.post(f"/v2/b/y/blobs/uploads/?mount={d}", auth=bob).status_code == 202
    assert c.post(f"/v2/b/y/blobs/uploads/?mount={d}&from=secret/x", auth=bob).status_code == 202
    assert c.get(f"/v2/b/y/blobs/{d}", auth=bob).status_code == 404
    dave = ("dave", "dave-pw")
    assert c.head(f"/v2/c/y/blobs/{d}", auth=dave).status_code == 404  # may read it, may not push here


def test_discovery_links_what_the_caller_may_read(discovery_client):
    c, d = discovery_client
    carol = ("carol", "carol-pw")
    assert c.head(f"/v2/c/y/blobs/{d}", auth=carol).status_code == 200
    assert c.get(f"/v2/c/y/blobs/{d}", auth=carol).content == b"x"
    assert c.post(f"/v2/c/z/blobs/uploads/?mount={d}", auth=carol).status_code == 201


def test_discovery_under_token_auth_goes_no_further_than_the_token(tmp_path):
    """A token names the repositories it may touch: one for `c/y` alone finds
    nothing in `secret/x`, even for a user who may read it."""
    data = tmp_path / "data"
    for name in ("alice", "carol"):
        users.add_user(data / "users.htpasswd", name, f"{name}-pw")
    config = Config(data=data, durable=False, auth="token", acl=[
        AclRule(["**"], ["pull", "push"], users=["alice"]),
        AclRule(["c/**"], ["pull", "push"], users=["carol"]),
        AclRule(["secret/**"], ["pull"], users=["carol"]),
    ])
    with TestClient(app_for(config)) as c:
        t = token(c, "alice", "alice-pw", "repository:secret/x:pull,push")
        r = c.post(f"/v2/secret/x/blobs/uploads/?digest={DIGEST}", content=b"x",
                   headers={"Authorization": f"Bearer {t}"})
        assert r.status_code == 201, r.text
        narrow = {"Authorization": f"Bearer {token(c, 'carol', 'carol-pw', 'repository:c/y:pull,push')}"}
        assert c.head(f"/v2/c/y/blobs/{DIGEST}", headers=narrow).status_code == 404
        assert c.post(f"/v2/c/y/blobs/uploads/?mount={DIGEST}", headers=narrow).status_code == 202
        both = {"Authorization": "Bearer " + token(c, "carol", "carol-pw", "repository:c/y:pull,push",
                                                   "repository:secret/x:pull")}
        assert c.head(f"/v2/c/y/blobs/{DIGEST}", headers=both).status_code == 200
