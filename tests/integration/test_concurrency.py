"""Parallel clients against one real `serve`: the same layer pushed by twenty
clients at once is stored once and every client gets 201; racing tag
updates end with one consistent winner; the index never locks up while
requests, `sealedreg gc` and `sealedreg fsck` (other processes, the same
index) all run at once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import threading

import httpx
import pytest

from tests.helpers.backends import BACKENDS, registry_on
from tests.helpers.server import run_registry

pytestmark = pytest.mark.integration

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_blob(client: httpx.AsyncClient, repo: str, data: bytes) -> httpx.Response:
    start = await client.post(f"/v2/{repo}/blobs/uploads/")
    assert start.status_code == 202, start.text
    location = start.headers["location"]
    patch = await client.patch(location, content=data, headers={"Content-Type": "application/octet-stream"})
    assert patch.status_code == 202, patch.text
    return await client.put(patch.headers["location"], params={"digest": digest_of(data)})


def manifest(config: bytes, layer: bytes, n: int) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": digest_of(config), "size": len(config)},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                   "digest": digest_of(layer), "size": len(layer)}],
                       "annotations": {"n": str(n)}}, sort_keys=True).encode()


def dedupe_hits(url: str) -> float:
    text = httpx.get(f"{url}/metrics").text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sealedreg_dedupe_hits_total") and 'kind="push"' in line)


@pytest.mark.parametrize("backend", BACKENDS)
def test_twenty_clients_pushing_one_layer_store_it_once(backend, tmp_path, request):
    if backend == "kubo":
        request.getfixturevalue("kubo_built")
    layer = os.urandom(3 * 1024 * 1024 + 17)
    with registry_on(backend, tmp_path) as (srv, _):
        before = dedupe_hits(srv.url)

        async def go():
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as client:
                return await asyncio.gather(*(push_blob(client, f"x.org/r{i}", layer) for i in range(20)))

        answers = asyncio.run(go())
        assert [r.status_code for r in answers] == [201] * 20
        assert {r.headers["docker-content-digest"] for r in answers} == {digest_of(layer)}
        with sqlite3.connect(tmp_path / "data" / "index.sqlite") as db:
            assert db.execute("SELECT count(*) FROM blobs WHERE digest = ?", (digest_of(layer),)).fetchone()[0] == 1
            assert db.execute("SELECT count(*) FROM repo_blobs WHERE digest = ?",
                              (digest_of(layer),)).fetchone()[0] == 20
        assert dedupe_hits(srv.url) - before == 19  # encrypted and stored by the first; found by the rest
        for i in (0, 19):
            assert httpx.get(f"{srv.url}/v2/x.org/r{i}/blobs/{digest_of(layer)}").content == layer


def test_racing_tag_updates_end_with_one_consistent_winner(tmp_path):
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(4096)
    bodies = [manifest(config, layer, n) for n in range(20)]
    with registry_on("embedded", tmp_path) as (srv, _):
        async def go():
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as client:
                for blob in (config, layer):
                    assert (await push_blob(client, "x.org/race", blob)).status_code == 201
                return await asyncio.gather(*(client.put("/v2/x.org/race/manifests/latest", content=body,
                                                         headers={"Content-Type": MANIFEST}) for body in bodies))

        answers = asyncio.run(go())
        assert [r.status_code for r in answers] == [201] * 20
        got = httpx.get(f"{srv.url}/v2/x.org/race/manifests/latest", headers={"Accept": MANIFEST})
        winner = got.headers["docker-content-digest"]
        assert winner in {digest_of(b) for b in bodies} and digest_of(got.content) == winner
        head = httpx.head(f"{srv.url}/v2/x.org/race/manifests/latest", headers={"Accept": MANIFEST})
        assert head.headers["docker-content-digest"] == winner
        assert httpx.get(f"{srv.url}/v2/x.org/race/tags/list").json()["tags"] == ["latest"]
        for body in bodies:  # every loser is still there by digest
            assert httpx.get(f"{srv.url}/v2/x.org/race/manifests/{digest_of(body)}",
                             headers={"Accept": MANIFEST}).content == body


def test_the_index_never_locks_up_under_parallel_requests_and_other_processes(tmp_path):
    config, layer = b'{"architecture":"amd64","os":"linux"}', os.urandom(64 * 1024)
    data = tmp_path / "data"
    # Forty uploads at once from one address: more than one client's default allowance.
    with run_registry(data, env={"SEALEDREG_MAX_UPLOADS_PER_CLIENT": "0"}) as srv:
        stop = threading.Event()
        failures: list[str] = []

        def cli_loop(*args: str) -> None:
            while not stop.is_set():
                done = subprocess.run([sys.executable, "-m", "sealedreg", *args, "--data", str(data)],
                                      capture_output=True, text=True, timeout=300)
                if done.returncode != 0:
                    failures.append(f"{args[0]}: {done.stderr.strip()}")

        async def one(client: httpx.AsyncClient, i: int) -> list[int]:
            repo = f"x.org/p{i % 5}"
            codes = [(await push_blob(client, repo, config)).status_code,
                     (await push_blob(client, repo, layer)).status_code]
            put = await client.put(f"/v2/{repo}/manifests/t{i}", content=manifest(config, layer, i),
                                   headers={"Content-Type": MANIFEST})
            codes += [put.status_code, (await client.get(f"/v2/{repo}/tags/list")).status_code,
                      (await client.head(f"/v2/{repo}/manifests/t{i}", headers={"Accept": MANIFEST})).status_code,
                      (await client.delete(f"/v2/{repo}/manifests/t{i}")).status_code]
            return codes

        async def go():
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as client:
                return await asyncio.wait_for(asyncio.gather(*(one(client, i) for i in range(40))), timeout=300)

        threads = [threading.Thread(target=cli_loop, args=("gc", "--grace", "0")),
                   threading.Thread(target=cli_loop, args=("fsck",))]
        for t in threads:
            t.start()
        try:
            results = asyncio.run(go())  # a hang detector: no deadline on how fast
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=300)
        assert failures == []
        for codes in results:
            assert all(code < 500 for code in codes), codes
            assert codes[2] in (201, 400), codes  # 400 MANIFEST_BLOB_UNKNOWN: gc --grace 0 took its blobs
            assert codes[3:] == [200, 200, 202] or codes[2] == 400
