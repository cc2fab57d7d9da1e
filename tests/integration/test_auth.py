"""Registry auth against a real `sealedreg serve` (token mode): the token
service, the challenges, and the denial matrix of issue 5 — every bypass we
could think of, each its own test, each denied with the spec's status and code.

The registry's ACL (below): org A (alice) owns `a.example/**`, org B (bob)
owns `b.example/**`, `reader` may only pull `a.example/**`, everyone may pull
`public/**` anonymously and alice may push there.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import time
from typing import Iterator

import httpx
import jwt
import pytest

from sealedreg.auth.scopes import Scope
from sealedreg.auth.tokens import Tokens, generate_key
from tests.helpers.auth import AuthRegistry, bearer, jwt_claims, new_password, run_auth_registry

pytestmark = pytest.mark.integration

ACL = """
anonymous_pull = ["public/**"]

[groups]
org-a = ["alice"]
org-b = ["bob"]

[[acl]]
namespaces = ["a.example"]
groups = ["org-a"]
actions = ["pull", "push", "delete"]

[[acl]]
namespaces = ["b.example"]
groups = ["org-b"]
actions = ["pull", "push", "delete"]

[[acl]]
namespaces = ["a.example"]
users = ["reader"]
actions = ["pull"]

[[acl]]
repositories = ["public/**"]
users = ["alice"]
actions = ["push"]
"""

SECRET_BLOB = b"org B's private layer " * 100
SECRET_DIGEST = "sha256:" + hashlib.sha256(SECRET_BLOB).hexdigest()
A_BLOB = b"org A's layer " * 50
A_DIGEST = "sha256:" + hashlib.sha256(A_BLOB).hexdigest()
CONFIG = b'{"architecture":"amd64","os":"linux"}'
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG).hexdigest()


def manifest_for(layer_digest: str, layer_size: int) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": CONFIG_DIGEST,
                   "size": len(CONFIG)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest,
                    "size": layer_size}],
    }).encode()


MT = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}


def push_image(reg: AuthRegistry, user: str, repo: str, layer: bytes) -> str:
    tok = reg.token(user, f"repository:{repo}:pull,push")
    for blob in (CONFIG, layer):
        d = "sha256:" + hashlib.sha256(blob).hexdigest()
        r = httpx.post(f"{reg.url}/v2/{repo}/blobs/uploads/?digest={d}", content=blob, headers=bearer(tok))
        assert r.status_code == 201, r.text
    body = manifest_for("sha256:" + hashlib.sha256(layer).hexdigest(), len(layer))
    r = httpx.put(f"{reg.url}/v2/{repo}/manifests/v1", content=body, headers={**bearer(tok), **MT})
    assert r.status_code == 201, r.text
    return r.headers["docker-content-digest"]


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthRegistry]:
    users = {name: new_password() for name in ("alice", "bob", "reader")}
    with run_auth_registry(tmp_path_factory.mktemp("auth"), users, ACL) as r:
        push_image(r, "alice", "a.example/app", A_BLOB)
        push_image(r, "bob", "b.example/secret", SECRET_BLOB)
        push_image(r, "alice", "public/base", b"public base layer")
        yield r


def source(n: int) -> httpx.Client:
    """A client connecting from 127.0.0.n: the throttle keys on the client address."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=f"127.0.0.{n}"))


def challenge(r: httpx.Response) -> dict[str, str]:
    value = r.headers["www-authenticate"]
    scheme, _, rest = value.partition(" ")
    return {"scheme": scheme, **dict(re.findall(r'(\w+)="([^"]*)"', rest))}


def assert_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["errors"][0]["code"] == code, r.text


# --------------------------------------------------------------------------- the happy path


def test_challenge_then_token_then_access(reg):
    r = httpx.get(f"{reg.url}/v2/")
    assert_error(r, 401, "UNAUTHORIZED")
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert challenge(r) == {"scheme": "Bearer", "realm": f"{reg.url}/token", "service": "sealedreg"}
    r = httpx.get(f"{reg.url}/v2/a.example/app/manifests/v1")
    assert challenge(r)["scope"] == "repository:a.example/app:pull,push"
    got = reg.token_response("alice", "repository:a.example/app:pull")
    assert got.status_code == 200 and got.headers["cache-control"] == "no-store"
    body = got.json()
    assert body["token"] == body["access_token"] and body["expires_in"] == 300 and body["issued_at"].endswith("Z")
    assert "refresh_token" not in body
    claims = jwt_claims(body["token"])
    assert claims["sub"] == "alice" and claims["aud"] == claims["iss"] == "sealedreg"
    assert claims["access"] == [{"type": "repository", "name": "a.example/app", "actions": ["pull"]}]
    assert jwt.get_unverified_header(body["token"])["alg"] == "EdDSA"
    h = bearer(body["token"])
    assert httpx.get(f"{reg.url}/v2/", headers=h).status_code == 200
    r = httpx.get(f"{reg.url}/v2/a.example/app/manifests/v1", headers={**h, "Accept": MT["Content-Type"]})
    assert r.status_code == 200 and json.loads(r.content)["schemaVersion"] == 2


def test_mount_challenge_asks_for_the_source_too(reg):
    r = httpx.post(f"{reg.url}/v2/a.example/new/blobs/uploads/?mount={A_DIGEST}&from=a.example/app")
    assert challenge(r)["scope"] == "repository:a.example/new:pull,push repository:a.example/app:pull"
    tok = reg.token("alice", *challenge(r)["scope"].split(" "))
    r = httpx.post(f"{reg.url}/v2/a.example/new/blobs/uploads/?mount={A_DIGEST}&from=a.example/app",
                   headers=bearer(tok))
    assert r.status_code == 201 and r.headers["docker-content-digest"] == A_DIGEST


def test_post_password_and_refresh_grants(reg):
    r = httpx.post(f"{reg.url}/token", data={"grant_type": "password", "username": "bob",
                                              "password": reg.users["bob"], "client_id": "test",
                                              "service": "sealedreg", "access_type": "offline",
                                              "scope": "repository:b.example/secret:pull repository:a.example/app:pull"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["scope"] == "repository:b.example/secret:pull"  # a.example/app: not bob's
    refresh = body["refresh_token"]
    r = httpx.post(f"{reg.url}/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                              "client_id": "test", "service": "sealedreg",
                                              "scope": ["repository:b.example/secret:pull,push"]})
    assert r.status_code == 200, r.text
    assert jwt_claims(r.json()["access_token"])["access"] == [
        {"type": "repository", "name": "b.example/secret", "actions": ["pull", "push"]}]
    # a refresh token is not an access token, and an access token is not a refresh token
    assert_error(httpx.get(f"{reg.url}/v2/", headers=bearer(refresh)), 401, "UNAUTHORIZED")
    r = httpx.post(f"{reg.url}/token", data={"grant_type": "refresh_token",
                                              "refresh_token": r.json()["access_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # GET with offline_token=true also hands one out
    assert "refresh_token" in reg.token_response("bob", offline=True).json()


def test_unsupported_grant_and_unknown_service(reg):
    r = httpx.post(f"{reg.url}/token", data={"grant_type": "client_credentials"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"
    r = httpx.get(f"{reg.url}/token", params={"service": "other"}, auth=("alice", reg.users["alice"]))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"


# --------------------------------------------------------------------------- the denial matrix


def test_denied_anonymous_push(reg):
    url = f"{reg.url}/v2/a.example/app/blobs/uploads/"
    r = httpx.post(url)
    assert_error(r, 401, "UNAUTHORIZED")
    assert challenge(r)["scope"] == "repository:a.example/app:pull,push"
    # an anonymous token is issued, but with nothing in it for this repository...
    anon = reg.token(None, "repository:a.example/app:pull,push")
    assert jwt_claims(anon)["access"] == [] and jwt_claims(anon)["sub"] == ""
    r = httpx.post(url, headers=bearer(anon))
    assert_error(r, 401, "UNAUTHORIZED")
    assert challenge(r)["error"] == "insufficient_scope"
    # ... and anonymous pull of a public repository never extends to push
    anon = reg.token(None, "repository:public/base:pull,push")
    assert jwt_claims(anon)["access"] == [{"type": "repository", "name": "public/base", "actions": ["pull"]}]
    assert httpx.get(f"{reg.url}/v2/public/base/manifests/v1", headers=bearer(anon)).status_code == 200
    assert httpx.get(f"{reg.url}/v2/public/base/manifests/v1").status_code == 200  # no token needed
    assert_error(httpx.post(f"{reg.url}/v2/public/base/blobs/uploads/", headers=bearer(anon)), 401, "UNAUTHORIZED")
    assert_error(httpx.post(f"{reg.url}/v2/public/base/blobs/uploads/"), 401, "UNAUTHORIZED")


def test_denied_wrong_password(reg):
    with source(11) as c:
        r = c.get(f"{reg.url}/token", params={"service": "sealedreg", "scope": "repository:a.example/app:pull"},
                  auth=("alice", "wrong-" + reg.users["alice"]))
        assert_error(r, 401, "UNAUTHORIZED")
        assert r.headers["www-authenticate"].startswith("Basic ")
        assert "token" not in r.json()
        r = c.post(f"{reg.url}/token", data={"grant_type": "password", "username": "alice", "password": "nope"})
        assert_error(r, 400, "UNAUTHORIZED")
        assert r.json()["error"] == "invalid_grant"


def test_denied_unknown_user(reg):
    with source(12) as c:
        unknown = c.get(f"{reg.url}/token", params={"service": "sealedreg"}, auth=("mallory", "whatever"))
        wrong = c.get(f"{reg.url}/token", params={"service": "sealedreg"}, auth=("alice", "whatever"))
    assert_error(unknown, 401, "UNAUTHORIZED")
    assert unknown.json() == wrong.json()  # no telling which users exist
    assert unknown.headers["www-authenticate"] == wrong.headers["www-authenticate"]


def test_denied_expired_token(reg):
    expired, _ = reg.minter().issue("alice", [Scope("repository", "a.example/app", frozenset({"pull"}))],
                                    now=time.time() - 3600)
    r = httpx.get(f"{reg.url}/v2/a.example/app/manifests/v1", headers=bearer(expired))
    assert_error(r, 401, "UNAUTHORIZED")
    c = challenge(r)
    assert c["error"] == "invalid_token" and c["scope"] == "repository:a.example/app:pull,push"
    assert r.json()["errors"][0]["message"] == "token expired"


def test_denied_alg_none(reg):
    good = reg.token("alice", "repository:a.example/app:pull,push")
    claims = jwt_claims(good)
    header = jwt.get_unverified_header(good)

    def b64(o: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()

    for alg in ("none", "None"):
        forged = f"{b64({**header, 'alg': alg})}.{b64(claims)}."
        r = httpx.get(f"{reg.url}/v2/a.example/app/manifests/v1", headers=bearer(forged))
        assert_error(r, 401, "UNAUTHORIZED")
        assert challenge(r)["error"] == "invalid_token"


def test_denied_token_signed_by_another_key(reg):
    other = Tokens(generate_key(), "sealedreg")
    scopes = [Scope("repository", "a.example/app", frozenset({"pull", "push"}))]
    forged, claims = other.issue("alice", scopes)
    with_our_kid = jwt.encode(claims, other.key.private, algorithm="EdDSA",
                              headers={"kid": jwt.get_unverified_header(reg.token("alice"))["kid"]})
    for token in (forged, with_our_kid):
        r = httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/", headers=bearer(token))
        assert_error(r, 401, "UNAUTHORIZED")
        assert challenge(r)["error"] == "invalid_token"


def test_denied_token_for_another_service(reg):
    token, _ = reg.minter(service="another-registry").issue(
        "alice", [Scope("repository", "a.example/app", frozenset({"pull"}))])
    r = httpx.get(f"{reg.url}/v2/a.example/app/manifests/v1", headers=bearer(token))
    assert_error(r, 401, "UNAUTHORIZED")
    assert challenge(r)["error"] == "invalid_token"


def test_denied_token_for_repo_x_used_on_repo_y(reg):
    tok = reg.token("alice", "repository:a.example/app:pull,push,delete")
    for method, path in (("GET", "/v2/a.example/other/manifests/v1"), ("POST", "/v2/a.example/other/blobs/uploads/"),
                         ("GET", "/v2/a.example/other/tags/list")):
        r = httpx.request(method, reg.url + path, headers=bearer(tok))
        assert_error(r, 401, "UNAUTHORIZED")
        c = challenge(r)
        assert c["error"] == "insufficient_scope" and c["scope"].startswith("repository:a.example/other:")
    # the catalog needs its own scope too
    r = httpx.get(f"{reg.url}/v2/_catalog", headers=bearer(tok))
    assert_error(r, 401, "UNAUTHORIZED")
    assert challenge(r) == {"scheme": "Bearer", "realm": f"{reg.url}/token", "service": "sealedreg",
                            "scope": "registry:catalog:*", "error": "insufficient_scope"}


def test_denied_pull_only_token_push_and_delete(reg):
    got = reg.token_response("reader", "repository:a.example/app:pull,push,delete")
    tok = got.json()["token"]
    assert jwt_claims(tok)["access"] == [{"type": "repository", "name": "a.example/app", "actions": ["pull"]}]
    h = bearer(tok)
    assert httpx.head(f"{reg.url}/v2/a.example/app/blobs/{A_DIGEST}", headers=h).status_code == 200
    r = httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/", headers=h)
    assert_error(r, 401, "UNAUTHORIZED")
    assert challenge(r)["scope"] == "repository:a.example/app:pull,push"
    assert challenge(r)["error"] == "insufficient_scope"
    r = httpx.put(f"{reg.url}/v2/a.example/app/manifests/v2", content=b"{}", headers={**h, **MT})
    assert_error(r, 401, "UNAUTHORIZED")
    for path in ("/v2/a.example/app/manifests/v1", f"/v2/a.example/app/blobs/{A_DIGEST}"):
        r = httpx.delete(reg.url + path, headers=h)
        assert_error(r, 401, "UNAUTHORIZED")
        assert challenge(r)["scope"] == "repository:a.example/app:delete"
    # alice's own token, asked for pull only, is pull-only too
    tok = reg.token("alice", "repository:a.example/app:pull")
    assert_error(httpx.delete(f"{reg.url}/v2/a.example/app/manifests/v1", headers=bearer(tok)), 401, "UNAUTHORIZED")
    assert httpx.get(f"{reg.url}/v2/a.example/app/tags/list", headers=bearer(tok)).json()["tags"] == ["v1"]


def test_denied_org_a_pushing_into_org_b(reg):
    got = reg.token_response("alice", "repository:b.example/secret:pull,push", "repository:b.example/new:pull,push")
    assert got.status_code == 200 and jwt_claims(got.json()["token"])["access"] == []
    h = bearer(got.json()["token"])
    for path in ("/v2/b.example/secret/blobs/uploads/", "/v2/b.example/new/blobs/uploads/",
                 f"/v2/b.example/new/blobs/uploads/?digest={A_DIGEST}"):
        assert_error(httpx.post(reg.url + path, content=A_BLOB, headers=h), 401, "UNAUTHORIZED")
    assert_error(httpx.get(f"{reg.url}/v2/b.example/secret/manifests/v1", headers=h), 401, "UNAUTHORIZED")
    assert_error(httpx.delete(f"{reg.url}/v2/b.example/secret/manifests/v1", headers=h), 401, "UNAUTHORIZED")
    # bob's content is untouched
    tok = reg.token("bob", "repository:b.example/secret:pull")
    assert httpx.get(f"{reg.url}/v2/b.example/secret/tags/list", headers=bearer(tok)).json()["tags"] == ["v1"]


def test_denied_mount_from_unreadable_repo_reveals_nothing(reg):
    scopes = ("repository:a.example/stolen:pull,push", "repository:b.example/secret:pull")
    got = reg.token_response("alice", *scopes)
    assert jwt_claims(got.json()["token"])["access"] == [
        {"type": "repository", "name": "a.example/stolen", "actions": ["pull", "push"]}]
    h = bearer(got.json()["token"])
    missing = "sha256:" + hashlib.sha256(b"never pushed anywhere").hexdigest()
    answers = []
    for digest in (SECRET_DIGEST, missing):
        r = httpx.post(f"{reg.url}/v2/a.example/stolen/blobs/uploads/?mount={digest}&from=b.example/secret",
                       headers=h)
        assert r.status_code == 202, r.text
        assert r.headers["location"].startswith("/v2/a.example/stolen/blobs/uploads/")
        answers.append((r.status_code, sorted(k for k in r.headers if k not in ("date", "location",
                                                                               "docker-upload-uuid")), r.content))
    assert answers[0] == answers[1]  # a blob that is there looks exactly like one that is not
    # and the blob did not arrive in alice's repository
    assert httpx.head(f"{reg.url}/v2/a.example/stolen/blobs/{SECRET_DIGEST}", headers=h).status_code == 404
    # the same mount by its owner's org works
    tok = reg.token("bob", "repository:b.example/copy:pull,push", "repository:b.example/secret:pull")
    r = httpx.post(f"{reg.url}/v2/b.example/copy/blobs/uploads/?mount={SECRET_DIGEST}&from=b.example/secret",
                   headers=bearer(tok))
    assert r.status_code == 201


def test_catalog_hiding(reg):
    def catalog(user: str | None, **params) -> list[str]:
        tok = reg.token(user, "registry:catalog:*")
        r = httpx.get(f"{reg.url}/v2/_catalog", params=params, headers=bearer(tok))
        assert r.status_code == 200, r.text
        return r.json()["repositories"]

    everything = catalog("alice") + catalog("bob")
    assert "b.example/secret" in everything and "a.example/app" in everything
    assert all(n.startswith(("a.example/", "public/")) for n in catalog("alice"))
    assert all(n.startswith("b.example/") for n in catalog("bob"))
    assert "b.example/secret" in catalog("bob")
    assert all(n.startswith("a.example/") for n in catalog("reader")) and "a.example/app" in catalog("reader")
    assert catalog(None) == ["public/base"]
    # pagination never leaks either: one name per page, following Link
    seen = []
    tok = reg.token("reader", "registry:catalog:*")
    url = f"{reg.url}/v2/_catalog?n=1"
    while url:
        r = httpx.get(url, headers=bearer(tok))
        seen += r.json()["repositories"]
        link = r.headers.get("link")
        url = reg.url + link.split(";")[0].strip("<>") if link else None
    assert seen == catalog("reader")
    # with anonymous pull configured, no token at all shows the public part only
    assert httpx.get(f"{reg.url}/v2/_catalog").json()["repositories"] == ["public/base"]


# --------------------------------------------------------------------------- throttling


def test_failed_logins_throttled_per_client(reg):
    params = {"service": "sealedreg"}
    with source(21) as attacker, source(22) as other:
        for _ in range(5):
            r = attacker.get(f"{reg.url}/token", params=params, auth=("alice", "guess"))
            assert r.status_code == 401
        r = attacker.get(f"{reg.url}/token", params=params, auth=("alice", reg.users["alice"]))
        assert_error(r, 429, "TOOMANYREQUESTS")
        wait = int(r.headers["retry-after"])
        assert 1 <= wait <= 60
        r = attacker.post(f"{reg.url}/token", data={"grant_type": "password", "username": "alice",
                                                     "password": reg.users["alice"]})
        assert_error(r, 429, "TOOMANYREQUESTS")
        # another client is not slowed down at all
        r = other.get(f"{reg.url}/token", params=params, auth=("alice", reg.users["alice"]))
        assert r.status_code == 200
        # valid tokens keep working for everyone, the throttled client included
        assert attacker.get(f"{reg.url}/v2/", headers=bearer(r.json()["token"])).status_code == 200
        time.sleep(wait)  # Retry-After is honest: after it, the next attempt is checked again
        r = attacker.get(f"{reg.url}/token", params=params, auth=("alice", reg.users["alice"]))
        assert r.status_code == 200


def test_parallel_guessing_gets_no_further(reg):
    """Twenty guesses at once from one client: no more of them are checked than
    the five a client sending one at a time would get."""

    async def guess_all() -> list[int]:
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.23")
        async with httpx.AsyncClient(transport=transport, limits=httpx.Limits(max_connections=20)) as c:
            rs = await asyncio.gather(*(c.get(f"{reg.url}/token", auth=("alice", f"guess-{i}")) for i in range(20)))
        return [r.status_code for r in rs]

    codes = asyncio.run(guess_all())
    assert set(codes) <= {401, 429}
    assert codes.count(401) <= 5 and codes.count(429) >= 15, codes


# --------------------------------------------------------------------------- malformed input


def test_scope_parsing_refusals(reg):
    for scope in ("repository:../../etc/passwd:pull", "repository:a.example/../b.example/secret:pull",
                  "repository:a.example/app", "repository:A.EXAMPLE/app:pull", "x" * 600):
        r = httpx.get(f"{reg.url}/token", params={"scope": scope}, auth=("alice", reg.users["alice"]))
        assert r.status_code == 400 and r.json()["error"] == "invalid_scope", (scope, r.text)
    r = httpx.get(f"{reg.url}/token", params={"scope": ["repository:a.example/app:pull"] * 40},
                  auth=("alice", reg.users["alice"]))
    assert r.status_code == 400


def test_path_traversal_names(reg):
    tok = reg.token("alice", "repository:a.example/app:pull,push")
    for path in ("/v2/a.example/%2e%2e/b.example/secret/manifests/v1", "/v2/a.example/app/../../b.example/secret/tags/list",
                 "/v2/b.example%2fsecret/tags/list"):
        r = httpx.get(reg.url + path)
        assert r.status_code == 401, (path, r.text)  # no credential: nothing about the name is said
        r = httpx.get(reg.url + path, headers=bearer(tok))
        assert r.status_code in (400, 401, 404) and r.status_code != 200, (path, r.text)
        assert b"org B" not in r.content


def test_oversize_headers(reg):
    huge_token = "a" * 9000
    r = httpx.get(f"{reg.url}/v2/", headers=bearer(huge_token))
    assert_error(r, 401, "UNAUTHORIZED")
    r = httpx.get(f"{reg.url}/token", headers={"Authorization": "Basic " + "QUFB" * 3000})
    assert r.status_code == 401
    try:
        r = httpx.get(f"{reg.url}/v2/", headers={"Authorization": "Bearer " + "b" * 200_000})
        assert 400 <= r.status_code < 500
    except httpx.RemoteProtocolError:
        pass  # the server may simply drop a request whose headers are that large
    assert httpx.get(f"{reg.url}/v2/", headers=bearer(reg.token("alice"))).status_code == 200  # still serving
