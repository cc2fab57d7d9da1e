"""Federation when things go wrong (docs/federation.md, the table of answers),
with real servers on loopback: knot for DNS, two Kubo daemons, the publisher
RA (acme.test, on Kubo A) and, per test, a fresh puller — on the embedded
store (blocks from `gateway=` hints) or on Kubo B (bitswap from `ipfsnode=`).

Each fault is checked the same way: the failing request ends within a bound
(`federation_timeout` plus a generous margin: liveness, not performance)
with the OCI error JSON — 404 for what will not change by retrying, 503 with
Retry-After for what may — never a hang, never a 500 or a traceback; and once
the fault is gone the next request succeeds (nothing unverified, no failure,
was cached). A gateway that answers wrong bytes is refused and its bytes are
never written to the puller's data directory.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import dns.flags
import dns.message
import dns.query
import httpx
import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.datadir import DataDir
from sealedreg.publish.dnsupdate import DnsUpdateError, current_txt, replace_txt
from sealedreg.storage.blockstore import BlockStore
from sealedreg.storage.cid import CID, DAG_PB
from tests.helpers.knot import KnotServer, run_knot
from tests.helpers.kubo import KuboNode, run_kubo, start_daemon
from tests.helpers.ocilayout import ImageInfo, MT_OCI_MANIFEST, write_image
from tests.helpers.server import RunningServer, free_port, run_registry, stop
from tests.integration.test_federation import Org, cli, forged_tree, org_config, wait_for

pytestmark = pytest.mark.integration

TIMEOUT = 3.0
"""`federation_timeout` of the pullers: the bound on each step that waits on the network."""

BOUND = TIMEOUT + 10
"""A failing request must end sooner than this (a liveness bound, measured generously)."""

DNSLINK, KEYS = "_dnslink.acme.test", "_sealedreg.acme.test"
ACCEPT = {"Accept": MT_OCI_MANIFEST}


# -- the world: DNS, two IPFS nodes, the publisher ------------------------------

@dataclass
class World:
    tmp: Path
    knot: KnotServer
    ka: KuboNode
    kb: KuboNode
    ra: Org
    a: RunningServer
    base: ImageInfo  # acme.test/base:1: layer 0 spans two leaf blocks, layer 1 is one block
    solo: ImageInfo  # acme.test/solo:1, read only by the peer-gone test (so Kubo B has none of it before)
    root: str
    records: dict[str, list[str]]  # the two TXT RRsets as RA published them
    cids: dict[str, str]  # blob digest → CID, as RA stores it
    stack: ExitStack  # module-lifetime cleanups (a restarted knotd)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.ra.port}"


def push(srv: RunningServer, repo: str, tag: str, img: ImageInfo) -> None:
    for digest in (img.config_digest, *img.layer_digests):
        blob = (img.path / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
        r = httpx.post(f"{srv.url}/v2/{repo}/blobs/uploads/?digest={digest}", content=blob, timeout=60)
        assert r.status_code == 201, r.text
    r = httpx.put(f"{srv.url}/v2/{repo}/manifests/{tag}", content=img.manifest_bytes,
                  headers={"Content-Type": MT_OCI_MANIFEST}, timeout=60)
    assert r.status_code == 201, r.text


def txt(knot: KnotServer, name: str) -> list[str] | None:
    return asyncio.run(current_txt(knot.address, name))


def write_txt(knot: KnotServer, name: str, values: list[str]) -> None:
    """Replace the TXT RRset at `name` straight in knot (RFC 2136, TSIG); [] deletes it."""
    async def go() -> None:
        current = await current_txt(knot.address, name)
        await replace_txt(knot.address, knot.key, {name: values}, {name: current}, 1)
    asyncio.run(go())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("faults")
    with ExitStack() as stack:
        knot = stack.enter_context(run_knot(tmp, ["acme.test", "partner.test"]))
        ka = stack.enter_context(run_kubo(tmp, "a"))
        kb = stack.enter_context(run_kubo(tmp, "b"))
        ra = org_config(tmp, "acme.test", knot, ka, free_port(), secret=False)
        a = stack.enter_context(run_registry(ra.data, ["--config", str(ra.config)], port=ra.port))
        base = write_image(tmp / "base", layers=[1_200_000, 150_000], seed=11, compresslevel=0, tag="1")
        solo = write_image(tmp / "solo", layers=[1_200_000, 150_000], seed=12, compresslevel=0, tag="1")
        push(a, "acme.test/base", "1", base)
        push(a, "acme.test/solo", "1", solo)
        published = json.loads(cli("publish", "acme.test", *ra.args()).stdout)
        assert published["dns"] == "updated"
        records = {name: txt(knot, name) for name in (DNSLINK, KEYS)}
        assert records[DNSLINK] == [f"dnslink=/ipfs/{published['root']}"]
        cids = {}
        for ref in ("acme.test/base:1", "acme.test/solo:1"):
            for blob in json.loads(cli("inspect", ref, *ra.args()).stdout)["blobs"]:
                cids[blob["digest"]] = blob["cid"]
        yield World(tmp, knot, ka, kb, ra, a, base, solo, published["root"], records, cids, stack)


@pytest.fixture(autouse=True)
def published_records(world: World) -> Iterator[None]:
    """Every test starts and ends with DNS as RA published it."""
    yield
    for name, values in world.records.items():
        if txt(world.knot, name) != values:
            write_txt(world.knot, name, values)


# -- pullers and requests ---------------------------------------------------------

@dataclass
class Puller(RunningServer):
    data: DataDir | None = None

    def block_file(self, cid: str) -> Path:
        """Where its embedded store keeps block `cid`."""
        assert self.data is not None
        return BlockStore(self.data.blocks, self.data.tmp).path(CID.parse(cid))


@contextmanager
def puller(world: World, kubo: KuboNode | None = None) -> Iterator[Puller]:
    """A fresh registry owning partner.test that federates acme.test, with a short
    `federation_timeout` (a SEALEDREG_ variable: the config file already sets it, and a
    key may not appear twice in TOML). On leaving, its log must hold no traceback."""
    org = org_config(world.tmp, "partner.test", world.knot, kubo, free_port(), secret=False)
    env = {"SEALEDREG_FEDERATION_TIMEOUT": f"{TIMEOUT:g}"}
    with run_registry(org.data, ["--config", str(org.config)], port=org.port, env=env) as srv:
        yield Puller(srv.host, srv.port, srv.proc, srv.log, DataDir(org.data))
    log = srv.log.read_text(errors="replace")
    assert "Traceback" not in log and "unexpected error" not in log, log[-4000:]


def timed(srv: RunningServer, method: str, path: str, **kw) -> tuple[httpx.Response, float]:
    t0 = time.monotonic()
    r = httpx.request(method, f"{srv.url}{path}", timeout=BOUND + 60, **kw)
    return r, time.monotonic() - t0


def refused(srv: RunningServer, what: str, path: str, status: int, code: str, says: str = "",
            method: str = "GET") -> float:
    """Ask for `path`; it must be refused with `status`/`code` within BOUND, as OCI error JSON.
    Returns (and prints) how long it took."""
    r, elapsed = timed(srv, method, path, headers=ACCEPT)
    print(f"\n  {what}: {method} {path} -> {r.status_code} in {elapsed:.2f}s")
    assert elapsed < BOUND, f"{what}: the request took {elapsed:.1f}s"
    assert r.status_code == status, f"{what}: {r.status_code} {r.text}"
    assert r.headers["content-type"].startswith("application/json")
    if status == 503:
        assert r.headers.get("retry-after")
    if method == "GET":
        error = r.json()["errors"][0]
        assert error["code"] == code, error
        assert says in error["message"], error
    return elapsed


def refused_together(srv: RunningServer, what: str, paths: list[str], status: int, code: str) -> list[float]:
    """`refused` for all `paths` at once, as a client pulling layers in parallel asks:
    each must end within the bound on its own (none may queue behind another's wait)."""
    with ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(lambda path: refused(srv, what, path, status, code), paths))


def manifest_ok(srv: RunningServer, repo: str, img: ImageInfo) -> None:
    r, _ = timed(srv, "GET", f"/v2/{repo}/manifests/1", headers=ACCEPT)
    assert r.status_code == 200, r.text
    assert r.headers["docker-content-digest"] == img.manifest_digest and r.content == img.manifest_bytes


def blob_ok(srv: RunningServer, repo: str, img: ImageInfo, digest: str) -> bool:
    """Whether the blob is served, with the right bytes (polled: a 503 is "not yet", anything else fails)."""
    r = httpx.get(f"{srv.url}/v2/{repo}/blobs/{digest}", timeout=BOUND + 60)
    if r.status_code != 200:
        assert r.status_code == 503, r.text
        return False
    assert r.content == (img.path / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()
    return True


def random_cid() -> str:
    """A well-formed CID of a block nobody has."""
    return str(CID.of(os.urandom(64), DAG_PB))


# -- DNS ------------------------------------------------------------------------

def test_dns_server_down_then_back(world):
    """knotd stopped: 503 within the bound; started again: the next request is served."""
    conf = world.knot.workdir / "knot.conf"
    with puller(world) as b:
        subprocess.run(["knotc", "-c", str(conf), "stop"], check=True, capture_output=True, timeout=30)
        try:
            refused(b, "DNS server down", "/v2/acme.test/base/manifests/1", 503, "UNAVAILABLE")
            at_once = ["/v2/acme.test/base/manifests/1", "/v2/acme.test/base/tags/list",
                       f"/v2/acme.test/base/blobs/{world.base.config_digest}"]
            refused_together(b, "DNS server down (3 at once)", at_once, 503, "UNAVAILABLE")
        finally:
            with open(world.knot.log, "ab") as log:
                proc = subprocess.Popen(["knotd", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
            world.stack.callback(stop, proc)

            def answers() -> bool:
                try:
                    return txt(world.knot, DNSLINK) is not None
                except DnsUpdateError:
                    return False
            wait_for("knotd to answer again", answers, timeout=30)
        manifest_ok(b, "acme.test/base", world.base)


def test_dns_server_refuses(world):
    """A namespace the DNS server does not serve (it answers REFUSED): 503, a server-side failure."""
    with puller(world) as b:
        refused(b, "DNS REFUSED", "/v2/nowhere.example/app/manifests/1", 503, "UNAVAILABLE", "REFUSED")


def test_nxdomain_then_published(world):
    """No such name (NXDOMAIN, or one DNS cannot hold): 404 NAME_UNKNOWN; once the records
    exist, the next request is served."""
    with puller(world) as b:
        refused(b, "NXDOMAIN (never published)", "/v2/ghost.acme.test/app/manifests/1", 404, "NAME_UNKNOWN",
                "not published")
        refused(b, "a name DNS cannot hold", f"/v2/{'a' * 64}.test/app/manifests/1", 404, "NAME_UNKNOWN",
                "not a DNS name")  # a label over 63 octets: no server could ever answer for it
        write_txt(world.knot, DNSLINK, [])
        refused(b, "NXDOMAIN (_dnslink deleted)", "/v2/acme.test/base/manifests/1", 404, "NAME_UNKNOWN",
                "not published")
        write_txt(world.knot, DNSLINK, world.records[DNSLINK])
        manifest_ok(b, "acme.test/base", world.base)


def _keys_of_another_org(world: World) -> list[str]:
    """acme.test's records with a well-formed signing key that is not acme.test's (a spoof)."""
    stranger = OrgKeys.generate("stranger").public.sig_text
    return [re.sub(r"sig=[^;]+", f"sig={stranger}", v) for v in world.records[KEYS]]


def _gateway_hint(url: str):
    return lambda w: [v.replace(f"gateway={w.gateway}", f"gateway={url}") for v in w.records[KEYS]]


NOT_FOUND, UNAVAILABLE = (404, "NAME_UNKNOWN"), (503, "UNAVAILABLE")
BAD_RECORDS = {
    # case: (name, values (from the world), the answer, what it says)
    "two-dnslinks": (DNSLINK, lambda w: [f"dnslink=/ipfs/{w.root}", f"dnslink=/ipfs/{random_cid()}"],
                     NOT_FOUND, "different dnslink values"),
    "dnslink-with-path": (DNSLINK, lambda w: [f"dnslink=/ipfs/{w.root}/repos"], NOT_FOUND, "must name a tree root"),
    "dnslink-not-a-cid": (DNSLINK, lambda w: ["dnslink=/ipfs/bafy-this-is-not-a-cid"], NOT_FOUND, "is not a CID"),
    "no-dnslink-value": (DNSLINK, lambda w: ["v=spf1 -all", "dnslink=/foo/bar"], NOT_FOUND, "has no dnslink="),
    "dnslink-to-a-layer": (DNSLINK, lambda w: [f"dnslink=/ipfs/{w.cids[w.base.layer_digests[1]]}"],
                           NOT_FOUND, "not a sealedreg tree"),
    "malformed-keys": (KEYS, lambda w: [f"v=sealedreg1; sig=ed25519:AAAA; box=x25519:AAAA; gateway={w.gateway}"],
                       NOT_FOUND, "cannot be verified"),
    "no-keys": (KEYS, lambda w: [f"v=sealedreg1; gateway={w.gateway}"], NOT_FOUND, "cannot be verified"),
    "another-orgs-key": (KEYS, _keys_of_another_org, NOT_FOUND, "expected publisher"),
    # the only gateway hint names a port nothing can listen on
    "gateway-with-a-bad-port": (KEYS, _gateway_hint("http://127.0.0.1:99999"), UNAVAILABLE, "99999"),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_malformed_or_duplicate_records(world, case):
    """Records that are wrong, ambiguous or spoofed: 404 NAME_UNKNOWN saying why (503 when only
    the hint of where to fetch from is unusable); fixed, served at once."""
    name, values, (status, code), says = BAD_RECORDS[case]
    with puller(world) as b:
        write_txt(world.knot, name, values(world))
        refused(b, case, "/v2/acme.test/base/manifests/1", status, code, says)
        write_txt(world.knot, name, world.records[name])
        manifest_ok(b, "acme.test/base", world.base)


def test_noise_beside_the_records_is_ignored(world):
    """Foreign TXT strings beside both records, enough that the UDP answer is truncated
    (TCP retry): still served."""
    noise = [f"noise-{i}={'x' * 200}" for i in range(6)]
    with puller(world) as b:
        write_txt(world.knot, DNSLINK, world.records[DNSLINK] + noise + ["dnslink=/foo/bar"])
        write_txt(world.knot, KEYS, world.records[KEYS] + noise + ["v=sealedreg2; sig=ed25519:AAAA"])
        host, _, port = world.knot.address.rpartition(":")
        over_udp = dns.query.udp(dns.message.make_query(KEYS, "TXT"), host, port=int(port), timeout=5)
        assert over_udp.flags & dns.flags.TC  # too long for UDP: the puller must retry over TCP
        manifest_ok(b, "acme.test/base", world.base)


# -- IPFS -----------------------------------------------------------------------

@pytest.mark.parametrize("backend", ["embedded", "kubo"])
def test_cid_that_never_resolves(world, backend):
    """DNSLink to a CID nobody has: 503 within the bound (the gateway says 404; bitswap never
    answers); pointed back at the real tree, the next request is served."""
    with puller(world, world.kb if backend == "kubo" else None) as b:
        write_txt(world.knot, DNSLINK, [f"dnslink=/ipfs/{random_cid()}"])
        refused(b, f"CID nobody has ({backend})", "/v2/acme.test/base/manifests/1", 503, "UNAVAILABLE")
        write_txt(world.knot, DNSLINK, world.records[DNSLINK])
        manifest_ok(b, "acme.test/base", world.base)


def test_a_refused_tree_leaves_nothing_behind(world):
    """A tree signed by another key with a far higher seq (blocks over bitswap from Kubo A):
    404; had its seq been remembered, the genuine tree would now be refused as a rollback."""
    forged = forged_tree(world.ka, "acme.test", OrgKeys.generate("stranger"), 1_000_000, int(time.time()) + 3600)
    with puller(world, world.kb) as b:
        write_txt(world.knot, DNSLINK, [f"dnslink=/ipfs/{forged}"])
        refused(b, "forged tree, higher seq", "/v2/acme.test/base/manifests/1", 404, "NAME_UNKNOWN",
                "expected publisher")
        write_txt(world.knot, DNSLINK, world.records[DNSLINK])
        manifest_ok(b, "acme.test/base", world.base)


# -- a misbehaving gateway ----------------------------------------------------------

class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a puller may hang up on a bad gateway
            super().handle_error(request, client_address)


class FakeGateway:
    """A trustless gateway in front of `upstream` (RA's real one) that misbehaves on purpose:
    "hang" never answers; "stall" sends the headers and half of each block, then nothing;
    "flip" answers faithfully except for the blocks `victims`, one byte of which it flips;
    "drop" answers faithfully except for `victims`, which it says it does not have (404);
    "hold" answers faithfully except for `victims`, for which it never answers."""

    def __init__(self, upstream: str, mode: str, victims: set[str] | None = None) -> None:
        self.upstream, self.mode, self.victims = upstream, mode, victims or set()
        self.release = threading.Event()
        self.requests: list[str] = []
        self.spoiled: dict[str, bytes] = {}  # victim CID → the bytes sent for it
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(self.path)
                cid = self.path.removeprefix("/ipfs/").partition("?")[0]
                if fake.mode == "hang" or (fake.mode == "hold" and cid in fake.victims):
                    fake.release.wait(300)
                    return
                r = httpx.get(fake.upstream + self.path, headers={"Accept": self.headers.get("Accept", "*/*")},
                              timeout=60)
                status, body = r.status_code, r.content
                if cid in fake.victims and status == 200:
                    if fake.mode == "drop":
                        status, body = 404, b"not here"
                    elif fake.mode == "flip":
                        middle = len(body) // 2
                        body = body[:middle] + bytes([body[middle] ^ 0x01]) + body[middle + 1:]
                        fake.spoiled[cid] = body
                self.send_response(status)
                self.send_header("Content-Type", r.headers.get("content-type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if fake.mode == "stall":
                    self.wfile.write(body[:len(body) // 2])
                    self.wfile.flush()
                    fake.release.wait(300)
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeGateway":
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(30)


def hint_gateway(world: World, url: str) -> None:
    """Make `_sealedreg.acme.test` name `url` as acme.test's gateway (instead of RA's)."""
    write_txt(world.knot, KEYS, [v.replace(f"gateway={world.gateway}", f"gateway={url}") for v in world.records[KEYS]])
    assert url in "".join(txt(world.knot, KEYS) or [])


def stored_files(data: Path) -> list[Path]:
    return [p for p in data.rglob("*") if p.is_file()]


@pytest.mark.parametrize("mode", ["hang", "stall"])
def test_gateway_that_hangs(world, mode):
    """The only gateway hint never answers (or stops mid-block): 503 within the bound, nothing
    kept; hinted at RA's real gateway, the next request is served."""
    with FakeGateway(world.gateway, mode) as fake, puller(world) as b:
        hint_gateway(world, fake.url)
        refused(b, f"gateway {mode}s", "/v2/acme.test/base/manifests/1", 503, "UNAVAILABLE")
        assert fake.requests, "the puller never asked the gateway"
        blobs = [world.base.config_digest, *world.base.layer_digests]
        refused_together(b, f"gateway {mode}s (6 at once)", [f"/v2/acme.test/base/blobs/{d}" for d in blobs] * 2,
                         503, "UNAVAILABLE")
        assert not stored_files(b.data.blocks) + stored_files(b.data.tmp), "bytes of an unfinished answer were kept"
        hint_gateway(world, world.gateway)
        manifest_ok(b, "acme.test/base", world.base)
        assert b.block_file(world.root).is_file()


def leaves(kubo: KuboNode, cid: str) -> list[str]:
    r = httpx.post(f"{kubo.api_url}/api/v0/refs", params={"arg": cid}, timeout=30)
    return [json.loads(line)["Ref"] for line in r.text.splitlines()]


@pytest.mark.parametrize("mode", ["flip", "drop", "hold"])
def test_gateway_serving_a_bad_block(world, mode):
    """A gateway that flips a byte of (or does not have, or never sends) one block of each of
    two layers — the whole of a one-block layer, and the first leaf of a two-leaf one: those
    blobs are refused (503: no gateway gave the right bytes in time) while the rest of the
    image is served; wrong bytes are never written to the puller's data dir; hinted at RA's
    real gateway, the blobs are served and their right blocks kept."""
    base, repo = world.base, "acme.test/base"
    two_leaves, one_block = base.layer_digests
    first_leaf = leaves(world.ka, world.cids[two_leaves])[0]
    victims = {world.cids[one_block], first_leaf}
    with FakeGateway(world.gateway, mode, victims) as fake, puller(world) as b:
        hint_gateway(world, fake.url)
        manifest_ok(b, repo, base)
        assert blob_ok(b, repo, base, base.config_digest)
        r, _ = timed(b, "HEAD", f"/v2/{repo}/blobs/{two_leaves}")  # its root is fine
        assert r.status_code == 200
        says = {"flip": "do not match", "drop": "none of the gateways", "hold": ""}[mode]
        refused(b, f"{mode}: one-block layer (HEAD)", f"/v2/{repo}/blobs/{one_block}", 503, "UNAVAILABLE",
                method="HEAD")
        refused(b, f"{mode}: one-block layer", f"/v2/{repo}/blobs/{one_block}", 503, "UNAVAILABLE", says)
        refused(b, f"{mode}: a leaf of a two-leaf layer", f"/v2/{repo}/blobs/{two_leaves}", 503, "UNAVAILABLE",
                says)
        assert {p.partition("?")[0].removeprefix("/ipfs/") for p in fake.requests} >= victims
        for cid in victims:
            assert not b.block_file(cid).exists(), f"{cid} was kept"
        for cid, spoiled in fake.spoiled.items():
            written = [p for p in stored_files(b.data.root)
                       if p.stat().st_size == len(spoiled) and p.read_bytes() == spoiled]
            assert not written, f"the wrong bytes of {cid} were written to {written}"
        assert mode != "flip" or set(fake.spoiled) == victims
        hint_gateway(world, world.gateway)
        # the verified namespace (with its gateway) is kept for its TTL: poll, every answer bounded
        wait_for("the blobs through RA's real gateway", lambda: all(
            blob_ok(b, repo, base, d) for d in (one_block, two_leaves)), timeout=30)
        for cid in victims:
            assert CID.parse(cid).verify(b.block_file(cid).read_bytes())


# -- a peer that goes away -------------------------------------------------------------

def test_kubo_peer_gone_mid_pull(world):
    """Kubo A (the publisher's node, the only holder of the blocks) stops after the puller on
    Kubo B has the manifest and a blob's root: the blob reads answer 503 within the bound;
    A back, the pull completes."""
    solo, repo = world.solo, "acme.test/solo"
    big, small = solo.layer_digests
    with puller(world, world.kb) as b:
        manifest_ok(b, repo, solo)
        assert blob_ok(b, repo, solo, solo.config_digest)
        r, _ = timed(b, "HEAD", f"/v2/{repo}/blobs/{big}")  # the root block is now in Kubo B, its leaves not
        assert r.status_code == 200
        stop(world.ka.proc)
        try:
            refused(b, "peer gone (GET, root known)", f"/v2/{repo}/blobs/{big}", 503, "UNAVAILABLE")
            refused(b, "peer gone (GET, nothing known)", f"/v2/{repo}/blobs/{small}", 503, "UNAVAILABLE")
        finally:
            start_daemon(world.ka)
        t0 = time.monotonic()
        wait_for("the pull to complete once Kubo A is back",
                 lambda: blob_ok(b, repo, solo, big) and blob_ok(b, repo, solo, small), timeout=120)
        print(f"\n  peer back: served again after {time.monotonic() - t0:.1f}s")
