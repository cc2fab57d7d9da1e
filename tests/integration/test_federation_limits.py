"""`max_tree_size` end to end (docs/federation.md "Limits on what a pull reads"):
knot for DNS, a trustless gateway in the test serving two published trees, and
a puller registry on the embedded store that federates both.

acme.test is an ordinary namespace (one image); huge.test is a publisher's
own, validly signed tree whose tags directory is larger than the puller reads
for one request (3000 tags: ~150 KB, against the least limit there is, 128
KiB). Requests that would read it are refused at once with 403 and the OCI
error JSON naming the limit — to curl-like clients and to skopeo alike —
while every other request, to that namespace or the other, at the same time
or after, is served.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.builder import NamespaceSnapshot, PublicManifest, PublicTag, TreeBlob, build_tree
from sealedreg.publish.dnsupdate import current_txt, replace_txt
from sealedreg.publish.records import Hints, keys_record
from sealedreg.registry import content
from sealedreg.registry.domains import GLOBAL, Domains
from sealedreg.storage.base import ContentMissing
from sealedreg.storage.cid import CID, CIDError
from sealedreg.storage.embedded import EmbeddedStore
from tests.helpers.clients import ClientSandbox
from tests.helpers.knot import KnotServer, run_knot
from tests.helpers.ocilayout import MT_OCI_MANIFEST
from tests.helpers.server import RunningServer, free_port, run_registry
from tests.integration.test_federation_faults import _QuietServer

pytestmark = pytest.mark.integration

LIMIT = 128 * 1024
"""The puller's `max_tree_size` (the least the config accepts)."""

TAGS = 3000
ACCEPT = {"Accept": MT_OCI_MANIFEST}
ACME, HUGE = OrgKeys.generate("acme.test"), OrgKeys.generate("huge.test")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


CONFIG = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
LAYER = bytes(range(256)) * 4000  # ~1 MB: a blob of two leaves
MANIFEST = json.dumps({
    "schemaVersion": 2, "mediaType": MT_OCI_MANIFEST,
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(CONFIG), "size": len(CONFIG)},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(LAYER), "size": len(LAYER)}],
}).encode()


class Gateway:
    """A trustless gateway (`GET /ipfs/<cid>?format=raw`) over the publishers' block store."""

    def __init__(self, store: EmbeddedStore) -> None:
        gateway = self
        self.requests = 0

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                gateway.requests += 1
                try:
                    cid = str(CID.parse(self.path.removeprefix("/ipfs/").partition("?")[0]))
                    body, status = asyncio.run(store.get_block(cid)), 200
                except (CIDError, ContentMissing):
                    body, status = b"not here", 404
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.ipld.raw")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(30)


async def publish(store: EmbeddedStore) -> dict[str, str]:
    """Both trees into `store`: namespace → root."""
    cids = {}
    for data in (CONFIG, LAYER):
        cids[sha256(data)] = (await content.store_bytes(store, data, Domains().content_key(sha256(data), GLOBAL))
                              ).content_id
    blobs = [TreeBlob(digest, cid, True) for digest, cid in cids.items()]
    expires = int(time.time() + 3600)
    acme = NamespaceSnapshot("acme.test", ACME, blobs=blobs,
                             manifests=[PublicManifest("acme.test/base", sha256(MANIFEST), MANIFEST)],
                             tags=[PublicTag("acme.test/base", "1", sha256(MANIFEST))])
    huge = NamespaceSnapshot("huge.test", HUGE, blobs=blobs,
                             manifests=[PublicManifest("huge.test/app", sha256(MANIFEST), MANIFEST)],
                             tags=[PublicTag("huge.test/app", f"t{i:05}", sha256(MANIFEST)) for i in range(TAGS)])
    return {snap.namespace: (await build_tree(store, snap, None, expires=expires)).root for snap in (acme, huge)}


def point_dns(knot: KnotServer, namespace: str, keys: OrgKeys, root: str, gateway: str) -> None:
    """`_dnslink.<ns>` and `_sealedreg.<ns>`, as `sealedreg publish` writes them (RFC 2136, TSIG)."""
    records = {f"_dnslink.{namespace}": [f"dnslink=/ipfs/{root}"],
               f"_sealedreg.{namespace}": [keys_record(keys.public, Hints((), (gateway,)))]}

    async def go() -> None:
        current = {name: await current_txt(knot.address, name) for name in records}
        await replace_txt(knot.address, knot.key, records, current, 1)
    asyncio.run(go())


@dataclass
class World:
    tmp: Path
    puller: RunningServer
    gateway: Gateway


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("limits")
    (tmp / "publisher-tmp").mkdir()
    store = EmbeddedStore(tmp / "publisher-blocks", tmp / "publisher-tmp", durable=False)
    roots = asyncio.run(publish(store))
    gateway = Gateway(store)
    try:
        with run_knot(tmp, ["acme.test", "huge.test"]) as knot:
            point_dns(knot, "acme.test", ACME, roots["acme.test"], gateway.url)
            point_dns(knot, "huge.test", HUGE, roots["huge.test"], gateway.url)
            config = tmp / "puller.toml"
            config.write_text(f'federate = ["*.test"]\ndns_server = "{knot.address}"\nfederation_timeout = 10\n')
            env = {"SEALEDREG_MAX_TREE_SIZE": str(LIMIT)}
            with run_registry(tmp / "puller-data", ["--config", str(config)], port=free_port(), env=env) as puller:
                yield World(tmp, puller, gateway)
            log = puller.log.read_text(errors="replace")
            assert "Traceback" not in log and "unexpected error" not in log, log[-4000:]
            assert f"more than {LIMIT} bytes" in log  # an operator sees why in the log
    finally:
        gateway.close()


def get(srv: RunningServer, path: str, method: str = "GET") -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    r = httpx.request(method, f"{srv.url}{path}", headers=ACCEPT, timeout=60)
    return r, time.monotonic() - t0


def denied(srv: RunningServer, path: str, where: str, method: str = "GET") -> float:
    """`path` must be refused at once: 403, the OCI error JSON naming the limit and where it was reached."""
    r, elapsed = get(srv, path, method)
    print(f"\n  over max_tree_size: {method} {path} -> {r.status_code} in {elapsed:.2f}s")
    assert r.status_code == 403, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert elapsed < 5, f"refused only after {elapsed:.1f}s"
    if method == "GET":
        (error,) = r.json()["errors"]
        assert error["code"] == "DENIED"
        assert error["message"] == (f"huge.test: this request would read more than {LIMIT} bytes of the namespace's "
                                    f"published tree (max_tree_size), at /{where}")
        assert error["detail"] == {"namespace": "huge.test", "max_tree_size": LIMIT}
    return elapsed


def pulled(srv: RunningServer, repo: str, reference: str) -> bool:
    """The image's manifest and every blob, with the published bytes."""
    r, _ = get(srv, f"/v2/{repo}/manifests/{reference}")
    assert r.status_code == 200, r.text
    assert r.content == MANIFEST and r.headers["docker-content-digest"] == sha256(MANIFEST)
    for data in (CONFIG, LAYER):
        r, _ = get(srv, f"/v2/{repo}/blobs/{sha256(data)}")
        assert r.status_code == 200 and r.content == data, r.text[:200]
    return True


def test_a_tree_over_max_tree_size_is_refused_and_every_other_request_served(world):
    b, tags = world.puller, "repos/huge.test/app/tags"
    denied(b, "/v2/huge.test/app/tags/list", tags)
    denied(b, "/v2/huge.test/app/manifests/t00042", tags)
    denied(b, "/v2/huge.test/app/manifests/t00042", tags, method="HEAD")
    # at the same time: the over-limit requests, and pulls of the other namespace and of what
    # huge.test has that does not go through its tags
    with ThreadPoolExecutor(6) as pool:
        refusals = [pool.submit(denied, b, "/v2/huge.test/app/tags/list", tags) for _ in range(3)]
        pulls = [pool.submit(pulled, b, "acme.test/base", "1"), pool.submit(pulled, b, "acme.test/base", "1"),
                 pool.submit(pulled, b, "huge.test/app", sha256(MANIFEST))]
        assert all(f.result() for f in pulls)
        assert all(f.result() < 5 for f in refusals)
    r, _ = get(b, "/v2/acme.test/base/tags/list")
    assert r.status_code == 200 and r.json()["tags"] == ["1"]
    denied(b, "/v2/huge.test/app/tags/list", tags)  # refused every time, nothing poisoned or cached
    assert pulled(b, "acme.test/base", "1")


def test_skopeo_shows_why_and_pulls_the_other_namespace(world):
    b = world.puller
    with ClientSandbox(world.tmp / "sb", b.address) as sb:
        p = sb.skopeo("inspect", "--tls-verify=false", f"docker://{b.address}/huge.test/app:t00042",
                      check=False, debug=False)
        print(f"\n  skopeo inspect: {p.stderr.strip()}")
        assert p.returncode != 0
        assert f"more than {LIMIT} bytes of the namespace's published tree (max_tree_size)" in p.stderr, p.stderr
        sb.skopeo("copy", "--src-tls-verify=false", f"docker://{b.address}/acme.test/base:1",
                  f"dir:{world.tmp / 'base'}", debug=False)
    assert (world.tmp / "base" / "manifest.json").read_bytes() == MANIFEST
    assert (world.tmp / "base" / sha256(LAYER).split(":")[1]).read_bytes() == LAYER
