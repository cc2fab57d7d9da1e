"""Per-request metrics, request ids, JSON request lines and /metrics (sealedreg/api/observe.py)."""

from __future__ import annotations

import io
import json
import logging
import re
from dataclasses import dataclass
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from sealedreg import metrics
from sealedreg.api.observe import UNMATCHED, route_template
from sealedreg.api.app import ROUTES
from sealedreg.config import Config, NamespaceConfig
from sealedreg.crypto.keys import OrgKeys
from sealedreg.logs import Redactor, handler
from sealedreg.protected_files import create_secret
from sealedreg.publish.keyfiles import write_keys
from sealedreg.wiring import load_policy

from tests.unit.api.conftest import app_for, push_blob, push_image, sha256

LOOPBACK = ("127.0.0.1", 40000)
BLOB_ROUTE = "/v2/{name}/blobs/{digest}"
UPLOAD_ROUTE = "/v2/{name}/blobs/uploads/"
MANIFEST_ROUTE = "/v2/{name}/manifests/{reference}"
SECRET_REPO = "example.com/secret-payroll"


def requests_of(route: str, method: str, status: int) -> float:
    return metrics.sample("sealedreg_http_requests_total", {"route": route, "method": method, "status": str(status)})


def private_config(tmp_path, **extra) -> Config:
    create_secret(tmp_path / "org.secret")
    write_keys(OrgKeys.generate("example.com"), tmp_path / "keys")
    return Config(data=tmp_path / "data", durable=False, namespaces={"example.com": NamespaceConfig(
        org_secret=tmp_path / "org.secret", keys=tmp_path / "keys" / "example.com.key", private=["secret-*"])},
        **extra)


@dataclass
class JsonLog:
    stream: io.StringIO
    redactor: Redactor

    def text(self) -> str:
        return self.stream.getvalue()

    def lines(self) -> list[dict]:
        return [json.loads(line) for line in self.text().splitlines() if line.strip()]


@pytest.fixture
def json_log() -> Iterator[JsonLog]:
    """Root records as `serve` writes them with log_format = "json" (a test may give the redactor a policy)."""
    log = JsonLog(io.StringIO(), Redactor())
    out = handler(log.redactor, "json", log.stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(out)
    root.setLevel(logging.INFO)
    try:
        yield log
    finally:
        root.removeHandler(out)
        root.setLevel(level)


def test_route_templates_never_carry_names_or_digests():
    def scope(method: str, path: str) -> dict:
        return {"type": "http", "method": method, "path": path, "root_path": "", "query_string": b"",
                "headers": []}

    d = "sha256:" + "ab" * 32
    assert route_template(ROUTES, scope("GET", f"/v2/example.com/secret/app/blobs/{d}")) == BLOB_ROUTE
    assert route_template(ROUTES, scope("HEAD", "/v2/a/manifests/latest")) == MANIFEST_ROUTE
    assert route_template(ROUTES, scope("POST", "/v2/a/blobs/uploads/")) == UPLOAD_ROUTE
    assert route_template(ROUTES, scope("POST", "/v2/a/tags/list")) == "/v2/{name}/tags/list"  # 405: still its route
    assert route_template(ROUTES, scope("GET", "/nothing/here")) == UNMATCHED


def test_push_pull_and_failure_are_counted_by_route_template(client):
    client_ = TestClient(client.app, client=LOOPBACK)
    layer = b"layer bytes for metrics" * 10
    before = {
        "upload": requests_of(UPLOAD_ROUTE, "POST", 201),
        "manifest": requests_of(MANIFEST_ROUTE, "PUT", 201),
        "pull": requests_of(BLOB_ROUTE, "GET", 200),
        "missing": requests_of(MANIFEST_ROUTE, "GET", 404),
        "unmatched": requests_of(UNMATCHED, "GET", 404),
        "in": metrics.sample("sealedreg_http_request_bytes_total", {"route": UPLOAD_ROUTE, "method": "POST"}),
        "out": metrics.sample("sealedreg_http_response_bytes_total", {"route": BLOB_ROUTE, "method": "GET"}),
        "hits": metrics.sample("sealedreg_dedupe_hits_total", {"kind": "push"}),
        "mounts": metrics.sample("sealedreg_dedupe_hits_total", {"kind": "mount"}),
        "durations": metrics.sample("sealedreg_http_request_duration_seconds_count",
                                    {"route": BLOB_ROUTE, "method": "GET", "status": "200"}),
    }
    push_image(client, "team/app", "1.0", layer=layer)
    assert client.get(f"/v2/team/app/blobs/{sha256(layer)}").content == layer
    assert client.get("/v2/team/app/manifests/nope").status_code == 404
    assert client.get("/nothing/here").status_code == 404

    assert requests_of(UPLOAD_ROUTE, "POST", 201) == before["upload"] + 2  # config and layer
    assert requests_of(MANIFEST_ROUTE, "PUT", 201) == before["manifest"] + 1
    assert requests_of(BLOB_ROUTE, "GET", 200) == before["pull"] + 1
    assert requests_of(MANIFEST_ROUTE, "GET", 404) == before["missing"] + 1
    assert requests_of(UNMATCHED, "GET", 404) == before["unmatched"] + 1
    config = b'{"architecture":"amd64","os":"linux"}'
    assert metrics.sample("sealedreg_http_request_bytes_total",
                          {"route": UPLOAD_ROUTE, "method": "POST"}) == before["in"] + len(layer) + len(config)
    assert metrics.sample("sealedreg_http_response_bytes_total",
                          {"route": BLOB_ROUTE, "method": "GET"}) == before["out"] + len(layer)
    assert metrics.sample("sealedreg_http_request_duration_seconds_count",
                          {"route": BLOB_ROUTE, "method": "GET", "status": "200"}) == before["durations"] + 1
    assert metrics.sample("sealedreg_dedupe_hits_total", {"kind": "push"}) == before["hits"]

    push_blob(client, "team/app", layer)  # the same content again: stored once, counted as a hit
    assert metrics.sample("sealedreg_dedupe_hits_total", {"kind": "push"}) == before["hits"] + 1
    r = client.post(f"/v2/team/other/blobs/uploads/?mount={sha256(layer)}&from=team/app")
    assert r.status_code == 201
    assert metrics.sample("sealedreg_dedupe_hits_total", {"kind": "mount"}) == before["mounts"] + 1
    assert metrics.sample("sealedreg_uploads_in_flight") == 0

    text = client_.get("/metrics").text
    assert f'sealedreg_http_requests_total{{method="GET",route="{BLOB_ROUTE}",status="200"}}' in text
    assert "team/app" not in text and sha256(layer)[7:] not in text


def test_metrics_only_for_loopback_callers(client):
    refused = client.get("/metrics")  # the test client's default address is not loopback
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["code"] == "DENIED"
    assert "sealedreg" not in refused.text.replace("metrics", "")
    remote = TestClient(client.app, client=("203.0.113.9", 5555))
    assert remote.get("/metrics").status_code == 403
    for host in ("127.0.0.1", "::1"):
        served = TestClient(client.app, client=(host, 5555)).get("/metrics")
        assert served.status_code == 200, host
        assert served.headers["content-type"].startswith("text/plain")
        assert "# TYPE sealedreg_http_requests_total counter" in served.text


def test_metrics_listen_moves_metrics_off_the_main_listener(tmp_path):
    from sealedreg.api.observe import metrics_app

    app = app_for(Config(data=tmp_path / "data", durable=False, metrics_listen="127.0.0.1:9109"))
    with TestClient(app, client=LOOPBACK) as c:
        r = c.get("/metrics")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
    served = TestClient(metrics_app(), client=("203.0.113.9", 1)).get("/metrics")
    assert served.status_code == 200 and "sealedreg_dedupe_hits_total" in served.text


def test_request_id_is_echoed_or_made(client):
    r = client.get("/v2/", headers={"X-Request-Id": "abc-123.x"})
    assert r.headers["x-request-id"] == "abc-123.x"
    made = client.get("/v2/").headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    bad = client.get("/v2/", headers={"X-Request-Id": "two words\tand a tab" + "x" * 200}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", bad) and bad != made


def test_json_request_lines_carry_every_field_and_no_private_name(tmp_path, json_log):
    config = private_config(tmp_path, log_format="json")
    json_log.redactor.is_private = load_policy(config).is_private
    app = app_for(config)
    with TestClient(app, client=LOOPBACK) as c:
        secret_layer = b"payroll 2025" * 50
        manifest_digest, _ = push_image(c, SECRET_REPO, "q3-numbers", layer=secret_layer)
        assert c.get(f"/v2/{SECRET_REPO}/manifests/q3-numbers").status_code == 200
        assert c.get(f"/v2/{SECRET_REPO}/blobs/{sha256(secret_layer)}").content == secret_layer
        missing = c.get(f"/v2/{SECRET_REPO}/manifests/sha256:{'cd' * 32}", headers={"X-Request-Id": "req-42"})
        assert missing.status_code == 404 and missing.headers["x-request-id"] == "req-42"
        scrape = c.get("/metrics").text

    records = json_log.lines()
    requests = [r for r in records if r["logger"] == "sealedreg.access"]
    assert len(requests) >= 6
    for r in records:
        assert {"time", "level", "logger", "message"} <= set(r)
    for r in requests:
        assert {"method", "route", "status", "bytes_in", "bytes_out", "duration", "user", "request_id"} <= set(r)
        assert r["user"] is None  # auth off
    pull = next(r for r in requests if r["route"] == BLOB_ROUTE and r["method"] == "GET")
    assert pull["status"] == 200 and pull["bytes_out"] == len(secret_layer) and pull["bytes_in"] == 0
    assert isinstance(pull["duration"], float) and pull["duration"] >= 0
    failed = next(r for r in requests if r["request_id"] == "req-42")
    assert failed["status"] == 404 and failed["route"] == MANIFEST_ROUTE

    whole = json_log.text() + scrape
    for secret in ("secret-payroll", "q3-numbers", sha256(secret_layer)[7:], manifest_digest[7:], "cd" * 32):
        assert secret not in whole, secret


def test_json_lines_name_the_authenticated_user(tmp_path, json_log, monkeypatch):
    from sealedreg.auth import users

    monkeypatch.setattr(users, "BCRYPT_COST", 4)
    users.add_user(tmp_path / "data" / "users.htpasswd", "alice", "pw")
    app = app_for(Config(data=tmp_path / "data", durable=False, auth="basic", log_format="json"))
    with TestClient(app) as c:
        assert c.get("/v2/", auth=("alice", "pw")).status_code == 200
        assert c.get("/v2/").status_code == 401
        assert c.get("/healthz").status_code == 200  # no credential needed
    requests = [r for r in json_log.lines() if r["logger"] == "sealedreg.access"]
    assert [(r["route"], r["status"], r["user"]) for r in requests] == [
        ("/v2/", 200, "alice"), ("/v2/", 401, None), ("/healthz", 200, None)]


def test_text_format_logs_no_request_lines(client, caplog):
    with caplog.at_level(logging.INFO, logger="sealedreg.access"):
        client.get("/v2/")
    assert not [r for r in caplog.records if r.name == "sealedreg.access"]


def test_an_unexpected_error_is_counted_as_500(client, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(client.app.state.registry, "catalog", broken)
    before = requests_of("/v2/_catalog", "GET", 500)
    c = TestClient(client.app, raise_server_exceptions=False)
    assert c.get("/v2/_catalog").status_code == 500
    assert requests_of("/v2/_catalog", "GET", 500) == before + 1
