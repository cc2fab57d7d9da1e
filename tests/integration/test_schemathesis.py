"""Property-based fuzzing of a real `sealedreg serve` against docs/openapi.yaml
(schemathesis): no 5xx, responses as described (status, content type, headers,
body schema), no crash and no hang, with auth off, and with auth on (token
mode and basic mode) and valid credentials on every request.

Deterministic and bounded: hypothesis derandomized, a fixed number of
examples per operation, and a per-request timeout. A registry holding a small
image first (what the description's examples name) gives the fuzzer something
to find, tag, range over, mount and delete.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import unquote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from sealedreg.auth.scopes import CATALOG, DELETE, PULL, PUSH, REGISTRY, REPOSITORY, Scope
from sealedreg.auth.tokens import Tokens
from sealedreg.registry.errors import NameInvalid
from sealedreg.registry.refs import validate_name
from tests.helpers.auth import run_auth_registry
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration

SPEC = REPO_ROOT / "docs" / "openapi.yaml"
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection, unsupported_method, allow_header_conformance]
REQUEST_TIMEOUT = 10.0
"""Seconds for any one request: a request the server does not answer in time fails the test (a hang)."""
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))
"""Examples per operation in the fuzzing phase (the coverage and examples phases add their own);
`FUZZ_MAX_EXAMPLES=500` for a deeper run by hand."""
USER, PASSWORD = "fuzzer", "pw-fuzzer-not-secret"

# What the description's examples name: example.com/app:1.0, a layer "hello".
REPO = "example.com/app"
LAYER = b"hello"
CONFIG = b'{"architecture":"amd64","os":"linux"}'


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}


@dataclass
class Target:
    """A running registry and the credentials to send with each case."""

    mode: str
    url: str
    credentials: Callable[[schemathesis.Case], dict[str, str]] = field(default=lambda case: {})


def _token_credentials(tokens: Tokens) -> Callable[[schemathesis.Case], dict[str, str]]:
    """A valid credential for every case: a token of the registry's own key
    naming the case's repository (and a mount's `from`) with every action, as
    the token service issues to a user the ACL allows everything; Basic for
    the browse page and the token service's GET."""

    def credentials(case: schemathesis.Case) -> dict[str, str]:
        if not case.path.startswith("/v2"):
            return _basic() if case.method != "POST" else {}
        scopes = [Scope(REGISTRY, CATALOG, frozenset({"*"}))]
        for name in ((case.path_parameters or {}).get("name"), (case.query or {}).get("from")):
            try:
                scopes.append(Scope(REPOSITORY, validate_name(unquote(str(name))), frozenset({PULL, PUSH, DELETE})))
            except NameInvalid:
                pass
        token, _ = tokens.issue(USER, scopes)
        return {"Authorization": f"Bearer {token}"}

    return credentials


def _seed(url: str, headers: dict[str, str]) -> None:
    """example.com/app:1.0: a config, one layer, a manifest."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for blob in (CONFIG, LAYER):
            r = client.post(f"/v2/{REPO}/blobs/uploads/", params={"digest": _digest(blob)}, content=blob)
            assert r.status_code == 201, r.text
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": _digest(CONFIG),
                       "size": len(CONFIG)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(LAYER),
                        "size": len(LAYER)}],
        }).encode()
        r = client.put(f"/v2/{REPO}/manifests/1.0", content=manifest,
                       headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 201, r.text


@pytest.fixture(scope="module", params=["none", "token", "basic"])
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    tmp: Path = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "none":
        with run_registry(tmp / "data") as srv:
            _seed(srv.url, {})
            yield Target("none", srv.url)
        return
    with run_auth_registry(tmp, {USER: PASSWORD}, mode=request.param) as reg:  # no [[acl]]: users may do anything
        if request.param == "token":
            _seed(reg.url, {"Authorization": f"Bearer {reg.token(USER, f'repository:{REPO}:pull,push')}"})
            yield Target("token", reg.url, _token_credentials(reg.minter()))
        else:
            _seed(reg.url, _basic())
            yield Target("basic", reg.url, lambda case: _basic())


schema = schemathesis.openapi.from_path(SPEC)
schema.config.update(request_timeout=REQUEST_TIMEOUT)
# The registry ignores query parameters it does not know (containerd adds `ns=`), as registries do.
schema.config.generation.update(allow_extra_parameters=False)


def _on_a_live_session(case: schemathesis.Case, url: str, headers: dict[str, str]) -> None:
    """A well-formed case on an upload session gets a session that exists (a
    generated id never does), so chunks, commits and cancels reach the upload code."""
    params = case.path_parameters or {}
    if "session" not in params or case.meta is None or not case.meta.generation.mode.is_positive:
        return
    try:
        name = validate_name(unquote(str(params["name"])))  # some phases hand it over encoded
    except NameInvalid:
        return
    r = httpx.post(f"{url}/v2/{name}/blobs/uploads/", headers=headers, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 202, r.text
    params["session"] = r.headers["location"].rsplit("/", 1)[1]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_registry_answers_as_described(case: schemathesis.Case, target: Target) -> None:
    headers = target.credentials(case)
    _on_a_live_session(case, target.url, headers)
    response = case.call(base_url=target.url, headers=headers, timeout=REQUEST_TIMEOUT)
    checks = CHECKS
    if case.method == "POST" and case.path.startswith("/v2/{name}/blobs/uploads"):
        # A POST's parameters apply by kind: with `mount` it is a mount, and a
        # `digest` or `Content-Range` that do not apply are ignored (as is a
        # malformed mount: a new session, never an error); a schema cannot say so.
        checks = [check for check in CHECKS if check is not negative_data_rejection]
    if case.path == "/token" and target.mode != "token":
        checks = [check for check in checks if check is not unsupported_method]  # not served at all: 404
    if case.path == "/v2/{name}/blobs/uploads":
        # `/v2/<name>/blobs/uploads` is also `/v2/<name>/blobs/{digest}` with the
        # digest `uploads`: GET/DELETE answer DIGEST_INVALID, not 405, and `Allow`
        # rightly names their methods too; the description's templates cannot overlap.
        checks = [check for check in checks if check not in (allow_header_conformance, unsupported_method)]
    case.validate_response(response, checks=checks)
