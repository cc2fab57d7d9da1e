"""Two Kubo nodes on loopback: a registry on node B serves an image pushed to
node A's registry, given only its index; the bytes come over bitswap, and a
base layer B already has is not transferred again."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from tests.helpers.clients import ClientSandbox
from tests.helpers.kubo import run_kubo
from tests.helpers.ocilayout import write_image
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration

BASE = 4_000_000


def cli(*args: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def received(node) -> int:
    r = httpx.post(f"{node.api_url}/api/v0/bitswap/stat", timeout=30)
    r.raise_for_status()
    return r.json()["DataReceived"]


def test_pull_from_b_is_fetched_from_a_over_bitswap(tmp_path):
    img1 = write_image(tmp_path / "img1", layers=[BASE, 300_000], seed=7, compresslevel=0, tag="1")
    img2 = write_image(tmp_path / "img2", layers=[BASE, 600_000], seed=7, compresslevel=0, tag="2")
    assert img1.layer_digests[0] == img2.layer_digests[0] and img1.layer_digests[1] != img2.layer_digests[1]
    with run_kubo(tmp_path, "a") as a, run_kubo(tmp_path, "b") as b:
        httpx.post(f"{b.api_url}/api/v0/swarm/connect", params={"arg": a.swarm_addr}, timeout=30).raise_for_status()
        data_a, data_b = tmp_path / "reg-a", tmp_path / "reg-b"
        with run_registry(data_a, ["--ipfs-api", a.api_url]) as ra, ClientSandbox(tmp_path / "sb", ra.address) as sb:
            for img, tag in ((img1, "1"), (img2, "2")):
                sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:{tag}",
                          f"docker://{ra.address}/x.example/app:{tag}", debug=False)
        for tag in ("1", "2"):
            cli("export", "--data", str(data_a), "--ipfs-api", a.api_url, "--index-only",
                f"x.example/app:{tag}", "-o", str(tmp_path / f"app-{tag}.car"))
        assert (tmp_path / "app-1.car").stat().st_size < 10_000  # the index alone, no blocks

        before = received(b)
        cli("import", "--data", str(data_b), "--ipfs-api", b.api_url, str(tmp_path / "app-1.car"))
        first = received(b) - before
        assert first > BASE  # the whole first image came over bitswap

        before = received(b)
        cli("import", "--data", str(data_b), "--ipfs-api", b.api_url, str(tmp_path / "app-2.car"))
        second = received(b) - before
        assert 600_000 < second < BASE, f"the shared base layer was transferred again ({second} bytes)"

        # Node B's registry serves both images with the digests that were pushed to A.
        assert cli("inspect", "--data", str(data_b), "--ipfs-api", b.api_url, "x.example/app:2") == \
            cli("inspect", "--data", str(data_a), "--ipfs-api", a.api_url, "x.example/app:2")
        with run_registry(data_b, ["--ipfs-api", b.api_url]) as rb, ClientSandbox(tmp_path / "sb2", rb.address) as sb:
            for img, tag in ((img1, "1"), (img2, "2")):
                out = tmp_path / f"pulled-{tag}"
                sb.skopeo("copy", "--src-tls-verify=false", f"docker://{rb.address}/x.example/app:{tag}",
                          f"dir:{out}", debug=False)
                assert (out / "manifest.json").read_bytes() == img.manifest_bytes
                for digest in img.layer_digests:
                    assert (out / digest.split(":")[1]).read_bytes() == img.blob_path(digest).read_bytes()
        print(f"bitswap bytes received by B: first image {first}, second image {second}")


def test_same_push_same_cids_on_both_backends(tmp_path):
    img = write_image(tmp_path / "img", layers=[2_500_000, 10_000], seed=3, compresslevel=0, tag="1")
    with run_kubo(tmp_path, "k") as k:
        docs = {}
        for name, args in (("embedded", []), ("kubo", ["--ipfs-api", k.api_url])):
            data = tmp_path / f"data-{name}"
            with run_registry(data, args) as srv, ClientSandbox(tmp_path / f"sb-{name}", srv.address) as sb:
                sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:1",
                          f"docker://{srv.address}/example.com/app:1", debug=False)
            docs[name] = cli("inspect", "--data", str(data), *args, "example.com/app:1")
        assert docs["embedded"] == docs["kubo"]
        # what the registry stored in Kubo is pinned
        for blob in docs["kubo"]["blobs"]:
            r = httpx.post(f"{k.api_url}/api/v0/pin/ls", params={"arg": blob["cid"], "type": "recursive"}, timeout=30)
            assert r.status_code == 200 and blob["cid"] in r.json()["Keys"]
