"""What the embedded store writes is exactly what Kubo would: the same CID for
a pushed layer's ciphertext, and a CAR that a real Kubo imports and serves."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from sealedreg.crypto.convergent import derive_key, encrypt
from tests.helpers.kubo import ipfs_cli, kubo_add_only_hash, run_kubo
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration


def push(url: str, repo: str, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = httpx.post(f"{url}/v2/{repo}/blobs/uploads/?digest={digest}", content=data, timeout=60)
    assert r.status_code == 201, r.text
    return digest


def manifest_for(url: str, repo: str, layer: str, size: int) -> None:
    cfg = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    cfg_digest = push(url, repo, cfg)
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": cfg_digest, "size": len(cfg)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": layer, "size": size}]}).encode()
    r = httpx.put(f"{url}/v2/{repo}/manifests/1.0", content=body,
                  headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201


def inspect(data, ref):
    p = subprocess.run([sys.executable, "-m", "sealedreg", "inspect", "--data", str(data), ref],
                       capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    return json.loads(p.stdout)


@pytest.mark.parametrize("size", [0, 1, 1_048_559, 1_048_560, 1_048_561, 3 * 1_048_576 + 17])
def test_layer_cid_equals_kubo(tmp_path, size):
    layer = bytes((i * 31 + size) % 256 for i in range(size))
    data = tmp_path / "data"
    with run_registry(data) as srv:
        digest = push(srv.url, "kubo/check", layer)
        manifest_for(srv.url, "kubo/check", digest, size)
    (entry,) = [b for b in inspect(data, "kubo/check:1.0")["blobs"] if b["role"] == "layer"]
    ciphertext = encrypt(layer, derive_key(digest))
    assert entry["cid"] == kubo_add_only_hash(ciphertext, tmpdir=tmp_path)


def test_kubo_imports_our_car_and_serves_the_ciphertext(tmp_path):
    layer = bytes(range(256)) * 12_000  # 3 MB: a root node and three leaves
    data = tmp_path / "data"
    with run_registry(data) as srv:
        digest = push(srv.url, "example.com/app", layer)
        manifest_for(srv.url, "example.com/app", digest, len(layer))
    car = tmp_path / "app.car"
    subprocess.run([sys.executable, "-m", "sealedreg", "export", "--data", str(data), "example.com/app:1.0",
                    "-o", str(car)], check=True, cwd=REPO_ROOT, capture_output=True)
    (entry,) = [b for b in inspect(data, "example.com/app:1.0")["blobs"] if b["role"] == "layer"]
    with run_kubo(tmp_path) as node:
        out = ipfs_cli(node, "dag", "import", "--stats", str(car))
        assert "Pinned root" in out or "Imported" in out
        r = httpx.post(f"{node.api_url}/api/v0/cat", params={"arg": entry["cid"]}, timeout=60)
        assert r.status_code == 200
        assert r.content == encrypt(layer, derive_key(digest))
