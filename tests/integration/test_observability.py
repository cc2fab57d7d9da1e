"""The real `sealedreg serve` with JSON logs and a separate metrics listener:
skopeo pushes and pulls a private image; the metrics and the log lines count
it, and neither names the repository nor its content's digests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.protected_files import create_secret
from sealedreg.publish.keyfiles import write_keys
from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.server import free_port, run_registry

pytestmark = pytest.mark.integration

SECRET = "example.com/secret-ledger"
REQUEST_FIELDS = {"time", "level", "logger", "message", "method", "route", "status", "bytes_in", "bytes_out",
                  "duration", "user", "request_id"}


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 if absent)."""
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if m and m.group(1) == name:
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                return float(m.group(3))
    return 0.0


def test_json_logs_and_metrics_of_a_real_push_and_pull(tmp_path: Path):
    create_secret(tmp_path / "org.secret")
    write_keys(OrgKeys.generate("example.com"), tmp_path / "keys")
    config = tmp_path / "sealedreg.toml"
    config.write_text('[namespaces."example.com"]\norg_secret = "org.secret"\nkeys = "keys/example.com.key"\n'
                      'private = ["secret-*"]\n')
    metrics_port = free_port()
    env = {"SEALEDREG_LOG_FORMAT": "json", "SEALEDREG_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
           "SEALEDREG_DURABLE": "false"}
    image = write_image(tmp_path / "src", layers=[2048, 200_000], tag="1.0", seed=5)

    with run_registry(tmp_path / "data", ["--config", str(config)], env=env) as srv:
        metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
        with ClientSandbox(tmp_path / "clients", srv.address) as sb:
            ref = f"docker://{srv.address}/{SECRET}:1.0"
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{image.path}:1.0", ref)
            sb.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'pulled'}")
            # the same image again, to a second private repository: its blobs are stored once
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{image.path}:1.0",
                      f"docker://{srv.address}/{SECRET}-copy:1.0")
        assert (tmp_path / "pulled" / "manifest.json").read_bytes() == image.manifest_bytes

        ready = httpx.get(f"{srv.url}/readyz", headers={"X-Request-Id": "probe-1"})
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        assert ready.headers["x-request-id"] == "probe-1"
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
        main_metrics = httpx.get(f"{srv.url}/metrics")  # moved to metrics_listen: not on the main listener
        assert main_metrics.status_code == 404 and main_metrics.json()["errors"][0]["code"] == "UNSUPPORTED"

        r = httpx.get(metrics_url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        scrape = r.text

    assert srv.proc.returncode == 0, "both listeners stop on SIGTERM"
    manifests = "/v2/{name}/manifests/{reference}"
    assert sample(scrape, "sealedreg_http_requests_total", route=manifests, method="PUT", status="201") == 2
    assert sample(scrape, "sealedreg_http_requests_total", route=manifests, method="GET", status="200") >= 1
    blob_bytes = sum(image.layer_sizes) + len(image.config_bytes)
    pushed = sum(sample(scrape, "sealedreg_http_request_bytes_total", route=route, method=method)
                 for route, method in (("/v2/{name}/blobs/uploads/{session}", "PATCH"),
                                       ("/v2/{name}/blobs/uploads/{session}", "PUT"),
                                       ("/v2/{name}/blobs/uploads/", "POST")))
    assert pushed == blob_bytes  # every blob body once: the second push sent none
    assert sample(scrape, "sealedreg_http_response_bytes_total", route="/v2/{name}/blobs/{digest}",
                  method="GET") >= sum(image.layer_sizes)
    # the second push found every blob already stored: skopeo's HEAD in the new repository found
    # each in the first (automatic content discovery), so nothing was uploaded or mounted again
    assert sample(scrape, "sealedreg_dedupe_hits_total", kind="discover") == len(image.all_blob_digests)
    assert sample(scrape, "sealedreg_dedupe_hits_total", kind="push") == 0
    assert sample(scrape, "sealedreg_uploads_in_flight") == 0
    assert "sealedreg_gc_runs_total" in scrape

    log = srv.log.read_text()
    records = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is one JSON object
    requests = [r for r in records if r["logger"] == "sealedreg.access"]
    assert any(r["message"].startswith("sealedreg listening on") for r in records)  # start-up lines too
    for r in requests:
        assert REQUEST_FIELDS <= set(r), r
        assert r["user"] is None and isinstance(r["duration"], float)
    probe = [r for r in requests if r["request_id"] == "probe-1"]
    assert [(p["route"], p["status"], p["method"]) for p in probe] == [("/readyz", 200, "GET")]
    puts = [r for r in requests if r["route"] == manifests and r["method"] == "PUT"]
    assert [p["status"] for p in puts] == [201, 201] and all(p["bytes_in"] == image.manifest_size for p in puts)
    assert len({r["request_id"] for r in requests}) == len(requests)  # one line per request

    for secret in ("secret-ledger", *(d.split(":")[1] for d in [image.manifest_digest, *image.all_blob_digests])):
        assert secret not in log, secret
        assert secret not in scrape, secret


def test_readiness_follows_the_kubo_node(tmp_path: Path):
    from tests.helpers.backends import registry_on
    from tests.helpers.server import stop

    with registry_on("kubo", tmp_path) as (srv, node):
        r = httpx.get(f"{srv.url}/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ready"}
        stop(node.proc)  # the node goes away: the registry is alive, but not ready
        r = httpx.get(f"{srv.url}/readyz", timeout=10)
        assert r.status_code == 503 and r.json() == {"status": "not ready", "failed": ["store"]}
        assert node.api_url.split("//")[1] not in r.text
        assert httpx.get(f"{srv.url}/healthz").status_code == 200
