"""`sealedreg gc` against a running `serve`, on both backends, with a real
OCI client: deleting a manifest then collecting frees exactly its unshared
content, and pushes racing collections (run from another process, so the
data-directory lock is what serialises them) lose nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from tests.helpers.backends import BACKENDS, registry_on
from tests.helpers.clients import ClientSandbox
from tests.helpers.kubo import ipfs_cli
from tests.helpers.ocilayout import write_image

pytestmark = pytest.mark.integration


def gc(data: Path, *args: str, ipfs_api: str | None = None) -> dict:
    argv = [sys.executable, "-m", "sealedreg", "gc", "--data", str(data), "--json", *args]
    if ipfs_api:
        argv += ["--ipfs-api", ipfs_api]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def inspect(data: Path, ref: str, ipfs_api: str | None) -> dict:
    argv = [sys.executable, "-m", "sealedreg", "inspect", "--data", str(data), ref]
    if ipfs_api:
        argv += ["--ipfs-api", ipfs_api]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout)


def cids_of(doc: dict) -> set[str]:
    return {doc["cid"], *(b["cid"] for b in doc["blobs"])}


def block_files(data: Path) -> set[str]:
    return {p.name for p in (data / "blocks").rglob("*") if p.is_file()}


def push(sb: ClientSandbox, address: str, layout: Path, ref: str) -> None:
    sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:t", f"docker://{address}/{ref}", debug=False)


def pull_ok(sb: ClientSandbox, address: str, ref: str, out: Path) -> None:
    """skopeo checks every digest it pulls: a lost or damaged blob fails the copy."""
    sb.skopeo("copy", "--src-tls-verify=false", f"docker://{address}/{ref}", f"oci:{out}:t", debug=False)


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_then_gc_frees_exactly_the_unshared_content(backend, tmp_path, request):
    if backend == "kubo":
        request.getfixturevalue("kubo_built")
    # Same seed and position: layer 0 is shared; layer 1 and the configs differ.
    a = write_image(tmp_path / "a", layers=[300_000, 200_000], seed=7, compresslevel=0, tag="t")
    b = write_image(tmp_path / "b", layers=[300_000, 250_000], seed=7, compresslevel=0, tag="t")
    assert a.layer_digests[0] == b.layer_digests[0] and a.layer_digests[1] != b.layer_digests[1]
    data = tmp_path / "data"
    with registry_on(backend, tmp_path) as (srv, node), ClientSandbox(tmp_path / "sb", srv.address) as sb:
        api = node.api_url if node else None
        push(sb, srv.address, a.path, "x.org/a:1")
        push(sb, srv.address, b.path, "x.org/b:1")
        doc_a, doc_b = inspect(data, "x.org/a:1", api), inspect(data, "x.org/b:1", api)
        only_a = cids_of(doc_a) - cids_of(doc_b)
        assert len(only_a) == 3  # manifest, config, layer 1
        before = block_files(data)
        assert gc(data, "--grace", "0", ipfs_api=api)["blocks"] == 0  # everything is referenced

        r = httpx.delete(f"{srv.url}/v2/x.org/a/manifests/{a.manifest_digest}")
        assert r.status_code == 202, r.text
        dry = gc(data, "--grace", "0", "--dry-run", ipfs_api=api)
        report = gc(data, "--grace", "0", ipfs_api=api)
        assert report["blobs"] == 3 and report["links"] == 3 and report["blocks"] == dry["blocks"] > 0
        assert report["bytes"] == dry["bytes"] >= 200_000
        if backend == "embedded":
            freed = before - block_files(data)
            assert len(freed) == report["blocks"]
            assert only_a <= freed and not (cids_of(doc_b) & freed)
        else:
            pinned = set(ipfs_cli(node, "pin", "ls", "--type=recursive", "--quiet").split())
            assert not (only_a & pinned) and cids_of(doc_b) <= pinned
            assert report["blocks"] == 3
            ipfs_cli(node, "repo", "gc", "--quiet")
            for cid in only_a:  # Kubo's own GC reclaimed what we unpinned...
                with pytest.raises(Exception):
                    ipfs_cli(node, "block", "stat", "--offline", cid)
            for cid in cids_of(doc_b):  # ...and nothing else
                ipfs_cli(node, "block", "stat", "--offline", cid)
        assert httpx.head(f"{srv.url}/v2/x.org/a/blobs/{a.layer_digests[1]}").status_code == 404
        pull_ok(sb, srv.address, "x.org/b:1", tmp_path / "out")
        assert gc(data, "--grace", "0", ipfs_api=api)["blocks"] == 0


def test_pushes_racing_collections_from_another_process_lose_nothing(tmp_path):
    """Old images are deleted and aged past the grace period, so each
    collection wants their blobs; meanwhile the same images are pushed again
    to new repositories, deduplicating against exactly that content."""
    images = [write_image(tmp_path / f"img{i}", layers=[150_000, 100_000], seed=100 + i, compresslevel=0, tag="t")
              for i in range(5)]
    data = tmp_path / "data"
    with registry_on("embedded", tmp_path) as (srv, _), ClientSandbox(tmp_path / "sb", srv.address) as sb:
        for i, img in enumerate(images):
            push(sb, srv.address, img.path, f"x.org/old{i}:1")
            assert httpx.delete(f"{srv.url}/v2/x.org/old{i}/manifests/{img.manifest_digest}").status_code == 202
        with sqlite3.connect(data / "index.sqlite") as db:  # the garbage is old
            db.execute("UPDATE repo_blobs SET linked = 0")
            db.execute("UPDATE blobs SET created = 0")
        reports: list[dict] = []
        errors: list[BaseException] = []
        stop = threading.Event()

        def collect() -> None:
            try:
                while not stop.is_set():
                    reports.append(gc(data, "--grace", "10m"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        collector = threading.Thread(target=collect)
        collector.start()
        try:
            for i, img in enumerate(images):
                push(sb, srv.address, img.path, f"x.org/new{i}:1")
        finally:
            stop.set()
            collector.join(timeout=300)
        assert not errors, errors
        assert reports, "no collection ran"
        reports.append(gc(data, "--grace", "10m"))
        for i in range(len(images)):
            pull_ok(sb, srv.address, f"x.org/new{i}:1", tmp_path / f"out{i}")
        # Whatever each collection found, nothing pushed again was freed for good:
        # the last collection finds nothing left to free.
        assert gc(data, "--grace", "10m")["blocks"] == 0


def publish(data: Path, api: str | None) -> dict:
    argv = [sys.executable, "-m", "sealedreg", "publish", "--data", str(data), "example.com"]
    if api:
        argv += ["--ipfs-api", api]
    return json.loads(subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout)


def pinned(node) -> set[str]:
    return set(ipfs_cli(node, "pin", "ls", "--type=recursive", "--quiet").split())


@pytest.mark.parametrize("backend", BACKENDS)
def test_published_trees_keep_their_content_until_they_expire(backend, tmp_path, request):
    """A federated puller may have resolved the previous tree a moment ago: its
    blobs stay stored, and served by the gateway, until that tree expires."""
    if backend == "kubo":
        request.getfixturevalue("kubo_built")
    img = write_image(tmp_path / "img", layers=[200_000], seed=9, compresslevel=0, tag="t")
    data = tmp_path / "data"
    with registry_on(backend, tmp_path) as (srv, node), ClientSandbox(tmp_path / "sb", srv.address) as sb:
        api = node.api_url if node else None
        push(sb, srv.address, img.path, "example.com/app:1")
        doc = inspect(data, "example.com/app:1", api)
        layer = next(b["cid"] for b in doc["blobs"] if b["role"] == "layer")
        old = publish(data, api)
        assert httpx.delete(f"{srv.url}/v2/example.com/app/manifests/{img.manifest_digest}").status_code == 202
        first = gc(data, "--grace", "0", ipfs_api=api)
        assert (first["links"], first["blobs"], first["trees"]) == (2, 1, 0)  # only the manifest's own copy
        new = publish(data, api)  # the current tree no longer links the image
        assert new["root"] != old["root"]
        assert gc(data, "--grace", "0", ipfs_api=api)["blobs"] == 0
        gateway = f"{srv.url}/ipfs/{layer}?format=raw"
        assert httpx.get(gateway).status_code == 200
        if node:
            assert {old["root"], new["root"], layer} <= pinned(node)

        with sqlite3.connect(data / "index.sqlite") as db:  # the old tree's validity runs out
            db.execute("UPDATE trees SET expires = 1 WHERE root = ?", (old["root"],))
        last = gc(data, "--grace", "0", ipfs_api=api)
        assert (last["trees"], last["blobs"]) == (1, 2)  # the old tree, the config and the layer
        assert httpx.get(gateway).status_code == 404
        if node:
            now = pinned(node)
            assert old["root"] not in now and layer not in now and new["root"] in now
        else:
            assert layer not in block_files(data) and new["root"] in block_files(data)
        assert httpx.get(f"{srv.url}/ipfs/{new['root']}?format=raw").status_code == 200
