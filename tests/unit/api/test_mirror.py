"""Mirror mode (`?ns=<host>`): a request is rewritten to the full name only for
a namespace the registry serves, and never twice."""

from __future__ import annotations

import asyncio

import pytest
from starlette.testclient import TestClient

from sealedreg.api.mirror import MirrorNamespace
from tests.unit.api.conftest import push_image


class Recorder:
    """An ASGI app that keeps the scope it was called with."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        self.scopes.append(scope)


def call(path: str, query: bytes, served=("acme.test",), scope_type: str = "http") -> tuple[dict, list[str]]:
    asked: list[str] = []

    def serves(ns: str) -> bool:
        asked.append(ns)
        return ns in served

    app = Recorder()
    scope = {"type": scope_type, "path": path, "raw_path": path.encode(), "query_string": query,
             "method": "GET", "headers": []}
    asyncio.run(MirrorNamespace(app, serves)(scope, None, None))
    return app.scopes[0], asked


@pytest.mark.parametrize("path, query, expected", [
    ("/v2/app/manifests/1", b"ns=acme.test", "/v2/acme.test/app/manifests/1"),
    ("/v2/team/app/blobs/sha256:" + "a" * 64, b"ns=acme.test", "/v2/acme.test/team/app/blobs/sha256:" + "a" * 64),
    ("/v2/app/tags/list", b"n=10&ns=acme.test&last=x", "/v2/acme.test/app/tags/list"),
    ("/v2/app/manifests/1", b"ns=ACME.Test", "/v2/acme.test/app/manifests/1"),  # hosts are case-insensitive
    ("/v2/acme.testing/app/manifests/1", b"ns=acme.test", "/v2/acme.test/acme.testing/app/manifests/1"),
    ("/v2/app/manifests/1", b"ns=acme.test&ns=other.test", "/v2/acme.test/app/manifests/1"),  # the first ns
])
def test_rewritten_for_a_served_namespace(path, query, expected):
    scope, asked = call(path, query)
    assert scope["path"] == expected and scope["raw_path"] == expected.encode()
    assert scope["query_string"] == query  # the query is kept as it came
    assert asked == ["acme.test"]


def test_the_original_scope_is_not_mutated():
    app = Recorder()
    scope = {"type": "http", "path": "/v2/app/manifests/1", "raw_path": b"/v2/app/manifests/1",
             "query_string": b"ns=acme.test"}
    asyncio.run(MirrorNamespace(app, lambda ns: True)(scope, None, None))
    assert scope["path"] == "/v2/app/manifests/1" and app.scopes[0]["path"] == "/v2/acme.test/app/manifests/1"


def test_a_namespace_not_served_is_left_alone():
    scope, asked = call("/v2/app/manifests/1", b"ns=docker.io")
    assert scope["path"] == "/v2/app/manifests/1" and asked == ["docker.io"]


@pytest.mark.parametrize("path, query", [
    ("/v2/acme.test/app/manifests/1", b"ns=acme.test"),  # already prefixed
    ("/v2/_catalog", b"ns=acme.test"),
    ("/v2/", b"ns=acme.test"),
    ("/ipfs/bafy", b"ns=acme.test"),  # not the distribution API
    ("/v2/app/manifests/1", b"dns=acme.test"),  # "ns=" inside another parameter
    ("/v2/app/manifests/1", b"ns="),
    ("/v2/app/manifests/1", b"ns"),
    ("/v2/app/manifests/1", b""),
])
def test_requests_left_alone_without_asking(path, query):
    scope, asked = call(path, query)
    assert scope["path"] == path and asked == []


@pytest.mark.parametrize("ns", [
    b"..", b"../etc", b"acme.test/evil", b"acme..test", b"-acme.test", b"acme.test.", b".acme.test",
    b"acme%2Ftest", b"acme test", b"acme.test%00", b"*", b"acme.test:5000",
])
def test_a_bad_namespace_is_ignored(ns):
    scope, asked = call("/v2/app/manifests/1", b"ns=" + ns, served=("acme.test", "*", "..", "acme.test:5000"))
    assert scope["path"] == "/v2/app/manifests/1" and asked == []


def test_non_http_scopes_pass_through():
    scope, asked = call("/v2/app/manifests/1", b"ns=acme.test", scope_type="websocket")
    assert scope["path"] == "/v2/app/manifests/1" and asked == []


def test_lifespan_scope_passes_through():
    app = Recorder()
    asyncio.run(MirrorNamespace(app, lambda ns: True)({"type": "lifespan"}, None, None))
    assert app.scopes == [{"type": "lifespan"}]


# -- through the app ---------------------------------------------------------------
def test_a_mirror_pull_of_an_owned_namespace(org_client: TestClient):
    digest, body = push_image(org_client, "org.example/app", "1")
    r = org_client.get("/v2/app/manifests/1?ns=org.example",
                       headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 200 and r.content == body and r.headers["docker-content-digest"] == digest
    assert org_client.get("/v2/app/tags/list?ns=org.example").json() == {"name": "org.example/app", "tags": ["1"]}
    # a namespace the registry does not serve: the name is looked up as it came
    assert org_client.get("/v2/app/manifests/1?ns=docker.io").status_code == 404
    # the full name still works, with or without ns
    assert org_client.get("/v2/org.example/app/manifests/1?ns=org.example").status_code == 200
