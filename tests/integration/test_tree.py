"""The namespace tree: the same root on both backends, equal to what Kubo
builds from the same files, mounted in MFS on Kubo, seq rising on change."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sealedreg.crypto.convergent import derive_key, encrypt
from tests.helpers.clients import ClientSandbox
from tests.helpers.kubo import ipfs_cli, run_kubo
from tests.helpers.ocilayout import write_image
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration


def cli(*args: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def materialise(tmp: Path, image, repo: str, tag: str, descriptor: bytes) -> Path:
    """The tree of docs/format.md §6 written out as plain files, for `ipfs add -r`."""
    root = tmp / "tree"
    for digest in [image.config_digest, *image.layer_digests]:
        algorithm, hexpart = digest.split(":")
        f = root / "blobs" / algorithm / hexpart[:2] / hexpart
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(encrypt(image.blob_path(digest).read_bytes(), derive_key(digest)))
    m = root / "repos" / repo / "manifests" / image.manifest_digest
    m.parent.mkdir(parents=True, exist_ok=True)
    m.write_bytes(image.manifest_bytes)
    t = root / "repos" / repo / "tags" / tag
    t.parent.mkdir(parents=True, exist_ok=True)
    t.write_text(image.manifest_digest)
    (root / "sealedreg.json").write_bytes(descriptor)
    return root


def test_tree_is_kubo_exact_and_mounted(tmp_path):
    img = write_image(tmp_path / "img", layers=[1_500_000, 3000], seed=11, compresslevel=0, tag="1")
    with run_kubo(tmp_path, "k") as k:
        trees = {}
        for name, args in (("embedded", []), ("kubo", ["--ipfs-api", k.api_url])):
            data = tmp_path / f"data-{name}"
            with run_registry(data, args) as srv, ClientSandbox(tmp_path / f"sb-{name}", srv.address) as sb:
                sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:1",
                          f"docker://{srv.address}/example.com/app:1", debug=False)
            trees[name] = cli("publish", "--data", str(data), *args, "example.com")
            again = cli("publish", "--data", str(data), *args, "example.com")
            assert (again["root"], again["seq"], again["changed"]) == (trees[name]["root"], 1, False)
            assert cli("inspect", "--data", str(data), *args, "example.com/app:1")["tree"] == {
                "namespace": "example.com", "root": trees[name]["root"], "seq": 1,
                "expires": trees[name]["expires"]}
        # the same content; the roots differ only by the descriptor's expiry (the time it was built)
        same = lambda t: {k: v for k, v in t.items() if k not in ("root", "expires")}  # noqa: E731
        assert same(trees["embedded"]) == same(trees["kubo"]) and trees["kubo"]["changed"]
        root = trees["kubo"]["root"]
        # Kubo, given the same files, builds the very same directory
        descriptor = httpx.post(f"{k.api_url}/api/v0/files/read",
                                params={"arg": "/sealedreg/example.com/sealedreg.json"}).content
        assert json.loads(descriptor)["expires"] == trees["kubo"]["expires"]
        files = materialise(tmp_path, img, "example.com/app", "1", descriptor)
        kubo_root = ipfs_cli(k, "add", "-r", "-Q", "--only-hash", "--cid-version=1", "--raw-leaves",
                             "--chunker=size-1048576", str(files)).strip()
        assert kubo_root == root
        # … and the registry's tree is an MFS directory there, pinned
        stat = httpx.post(f"{k.api_url}/api/v0/files/stat", params={"arg": "/sealedreg/example.com"}).json()
        assert stat["Hash"] == root and stat["Type"] == "directory"
        pins = httpx.post(f"{k.api_url}/api/v0/pin/ls", params={"arg": root, "type": "recursive"}).json()
        assert root in pins["Keys"]
        tag = httpx.post(f"{k.api_url}/api/v0/files/read",
                         params={"arg": "/sealedreg/example.com/repos/example.com/app/tags/1"}).content
        assert tag.decode() == img.manifest_digest


def test_seq_rises_when_the_namespace_changes(tmp_path):
    data = tmp_path / "data"
    with run_registry(data) as srv:
        r = httpx.post(f"{srv.url}/v2/example.com/a/blobs/uploads/?digest=sha256:"
                       "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", content=b"hello")
        assert r.status_code == 201
    first = cli("publish", "--data", str(data), "example.com")
    with run_registry(data) as srv:
        httpx.post(f"{srv.url}/v2/example.com/b/blobs/uploads/?digest=sha256:"
                   "486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7", content=b"world")
    second = cli("publish", "--data", str(data), "example.com")
    assert (first["seq"], second["seq"]) == (1, 2) and first["root"] != second["root"]
    other = cli("publish", "--data", str(data), "other.org")
    assert other["seq"] == 1 and other["entries"] == 1  # only the descriptor
    third = cli("publish", "--data", str(data), "example.com")
    assert (third["seq"], third["changed"]) == (2, False)
