"""docs/openapi.yaml describes exactly the routes the app serves: every route
(path and method) the Starlette app registers is described, and every
described operation is served, so the description cannot drift from the code.
The fuzzing of the real server against it is tests/integration/test_schemathesis.py."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from starlette.routing import BaseRoute, Route

from sealedreg.auth import users
from sealedreg.config import Config
from tests.unit.api.conftest import app_for

SPEC_PATH = Path(__file__).resolve().parents[3] / "docs" / "openapi.yaml"
HTTP_METHODS = ("get", "head", "post", "put", "patch", "delete", "options", "trace")
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text())


def described(spec: dict) -> set[tuple[str, str]]:
    return {(path, method.upper()) for path, item in spec["paths"].items() for method in item if method in HTTP_METHODS}


def served(routes: list[BaseRoute]) -> set[tuple[str, str]]:
    """(path template, method) of every route; Starlette adds HEAD to every GET route."""
    out = set()
    for route in routes:
        assert isinstance(route, Route), f"a route of a kind this test does not know: {route!r}"
        out |= {(_CONVERTOR.sub(r"{\1}", route.path), method) for method in route.methods or ()}
    return out


@pytest.fixture
def full_app(tmp_path) -> Iterator:
    """The app with every optional route on: auth in token mode (`/token`) and
    `/metrics` on the main listener."""
    data = tmp_path / "data"
    users.add_user(data / "users.htpasswd", "alice", "alice-pw")
    yield app_for(Config(data=data, durable=False, auth="token"))


def test_every_served_route_is_described_and_every_described_route_is_served(spec, full_app):
    routes, paths = served(full_app.routes), described(spec)
    assert sorted(routes - paths) == [], "served but not in docs/openapi.yaml"
    assert sorted(paths - routes) == [], "in docs/openapi.yaml but not served"


def test_routes_of_other_configurations_are_described_too(spec, tmp_path):
    plain = app_for(Config(data=tmp_path / "a", durable=False))  # no auth: no /token
    separate = app_for(Config(data=tmp_path / "b", durable=False, metrics_listen="127.0.0.1:0"))
    assert ("/token", "GET") not in served(plain.routes)
    assert ("/metrics", "GET") not in served(separate.routes)
    assert served(plain.routes) <= described(spec) and served(separate.routes) <= described(spec)


def test_path_parameters_are_declared_as_the_route_names_them(spec):
    for path, item in spec["paths"].items():
        names = set(re.findall(r"\{(\w+)\}", path))
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            declared = {p["name"] for p in _parameters(spec, item, operation) if p["in"] == "path"}
            assert declared == names, (method, path)


def test_registry_errors_are_the_oci_error_body(spec):
    """Every JSON 4xx/5xx of a /v2/ operation is `{"errors":[{"code","message","detail"}]}`."""
    for path, item in spec["paths"].items():
        if not path.startswith("/v2/"):
            continue
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                content = _resolve(spec, response).get("content")
                if method == "head":
                    assert content is None, (method, path, status)
                else:
                    assert content == {"application/json": {"schema": {"$ref": "#/components/schemas/Errors"}}}, \
                        (method, path, status)
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message"] and set(error["properties"]) == {"code", "message", "detail"}


def test_the_description_is_valid_openapi(spec):
    import schemathesis

    assert spec["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_path(SPEC_PATH)
    schema.validate()
    assert len([op for op in schema.get_all_operations()]) == len(described(spec))


def test_name_reference_and_digest_patterns_are_the_registry_s(spec):
    from sealedreg.registry.refs import _NAME, _TAG

    schemas = spec["components"]["schemas"]
    name = re.compile(schemas["RepositoryName"]["pattern"])
    tag = re.compile(schemas["Tag"]["pattern"])
    digest = re.compile(schemas["Digest"]["pattern"])
    for text in ["a", "example.com/app", "a__b/c-d/e.f", "a---b", "A", "a/", "/a", "a//b", "a_-b", "..", "a/../b"]:
        assert bool(name.search(text)) == bool(_NAME.fullmatch(text)), text
    for text in ["latest", "_x", "1.0", "-x", ".x", "x" * 128, "x" * 129, "a:b"]:
        assert bool(tag.search(text)) == bool(_TAG.fullmatch(text)), text
    assert digest.search("sha256:" + "0" * 64) and digest.search("sha512:" + "a" * 128)
    assert not digest.search("sha256") and not digest.search(":abc") and not digest.search("SHA256:00")


def _resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        target = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def _parameters(spec: dict, item: dict, operation: dict) -> list[dict]:
    return [_resolve(spec, p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
