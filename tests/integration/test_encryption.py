"""Convergent encryption end to end: dedupe across namespaces, org domains,
no plaintext at rest, `sealedreg inspect`, tampering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration

MARKER = "SEALEDREG-MARKER-7f3a9c"


def inspect(data: Path, ref: str, config: Path | None = None) -> dict:
    argv = [sys.executable, "-m", "sealedreg", "inspect", "--data", str(data), ref]
    if config:
        argv[4:4] = ["--config", str(config)]
    p = subprocess.run(argv, capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def blocks_size(data: Path) -> int:
    return sum(p.stat().st_size for p in (data / "blocks").rglob("*") if p.is_file())


@pytest.fixture
def org_config(tmp_path: Path) -> Path:
    for ns in ("a.example", "b.example"):
        subprocess.run([sys.executable, "-m", "sealedreg", "org-secret", str(tmp_path / f"{ns}.secret")],
                       check=True, cwd=REPO_ROOT, capture_output=True)
    cfg = tmp_path / "sealedreg.toml"
    cfg.write_text('[namespaces."a.example"]\norg_secret = "a.example.secret"\n'
                   '[namespaces."b.example"]\norg_secret = "b.example.secret"\n')
    return cfg


def test_dedupe_domains_and_no_plaintext(tmp_path, org_config):
    image = write_image(tmp_path / "img", layers=[3_000_000, 200_000], compresslevel=0, marker=MARKER, tag="1.0")
    assert image.layer_digests[0] in image.marker_blobs  # the marker is in the layer's bytes as pushed
    data = tmp_path / "data"
    with run_registry(data, ["--config", str(org_config)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        def push(repo: str) -> None:
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{image.path}:1.0", f"docker://{srv.address}/{repo}:1.0",
                      debug=False)

        push("x.example/app")
        after_first = blocks_size(data)
        push("y.example/other")  # another namespace, global domain: nothing new but the tag
        assert blocks_size(data) == after_first
        push("a.example/app")
        push("b.example/app")
        x, y, a, b = (inspect(data, f"{ns}/{r}:1.0", org_config) for ns, r in
                      [("x.example", "app"), ("y.example", "other"), ("a.example", "app"), ("b.example", "app")])
        layer = image.layer_digests[0]

        def cid(doc: dict) -> str:
            (entry,) = [e for e in doc["blobs"] if e["digest"] == layer]
            return entry["cid"], entry["domain"]

        assert cid(x) == cid(y) and cid(x)[1] == "global"
        assert cid(a)[1] == cid(b)[1] == "org"
        assert len({cid(x)[0], cid(a)[0], cid(b)[0]}) == 3
        assert x["digest"] == image.manifest_digest
        assert [e["role"] for e in x["blobs"]] == ["config", "layer", "layer"]

        # pulled back byte-exact from every domain
        for repo in ("x.example/app", "a.example/app"):
            r = httpx.get(f"{srv.url}/v2/{repo}/blobs/{layer}")
            assert r.status_code == 200
            assert r.content == image.blob_path(layer).read_bytes()

    # no plaintext at rest: not the marker, not the config, not a manifest
    needles = [MARKER.encode(), image.config_bytes[:64], image.manifest_bytes[:64]]
    for f in data.rglob("*"):
        if f.is_file():
            content = f.read_bytes()
            for needle in needles:
                assert needle not in content, f"plaintext found in {f}"
    assert list((data / "uploads").iterdir()) == []


def test_tampered_block_fails_the_pull_cleanly(tmp_path):
    image = write_image(tmp_path / "img", layers=[2_500_000], compresslevel=0, tag="1.0")
    data = tmp_path / "data"
    layer = image.layer_digests[0]
    with run_registry(data) as srv:
        with ClientSandbox(tmp_path / "sb", srv.address) as sb:
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{image.path}:1.0",
                      f"docker://{srv.address}/t/app:1.0", debug=False)
        doc = inspect(data, "t/app:1.0")
        (entry,) = [e for e in doc["blobs"] if e["digest"] == layer]
        # flip one byte in the middle leaf of the layer's DAG
        leaves = sorted((p for p in (data / "blocks").rglob("bafkrei*")), key=lambda p: p.stat().st_size)
        victim = leaves[-1]
        raw = bytearray(victim.read_bytes())
        raw[len(raw) // 2] ^= 1
        victim.write_bytes(bytes(raw))
        got = b""
        with httpx.stream("GET", f"{srv.url}/v2/t/app/blobs/{layer}") as r:
            if r.status_code == 200:  # found mid-stream: the response is cut short
                with pytest.raises(httpx.HTTPError):
                    for piece in r.iter_bytes():
                        got += piece
            else:  # found before the first byte: a clean error
                assert r.status_code == 500
        assert len(got) < entry["size"]
        with ClientSandbox(tmp_path / "sb2", srv.address) as sb:
            p = sb.skopeo("copy", "--src-tls-verify=false", f"docker://{srv.address}/t/app:1.0",
                          f"dir:{tmp_path / 'out'}", check=False, debug=False)
            assert p.returncode != 0
        log = srv.log.read_text()
        assert "aborting blob response" in log and ("authentication failed" in log or "corrupt" in log)


def test_inspect_errors_are_one_line(tmp_path):
    p = subprocess.run([sys.executable, "-m", "sealedreg", "inspect", "--data", str(tmp_path / "none"), "a/b:1"],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode != 0 and "not a sealedreg data directory" in p.stderr and "Traceback" not in p.stderr
    with run_registry(tmp_path / "data"):
        pass
    p = subprocess.run([sys.executable, "-m", "sealedreg", "inspect", "--data", str(tmp_path / "data"), "a/b:nope"],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode != 0 and "MANIFEST_UNKNOWN" in p.stderr
    p = subprocess.run([sys.executable, "-m", "sealedreg", "inspect", "--data", str(tmp_path / "data"), "../x:1"],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode != 0 and "NAME_INVALID" in p.stderr
