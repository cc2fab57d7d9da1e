"""The Kubo backend when Kubo misbehaves: stopped, killed mid-push, paused,
or handing back bytes that are not what was stored."""

from __future__ import annotations

import base64
import hashlib
import os
import signal
import threading
import time

import httpx
import pytest

from sealedreg.crypto.convergent import derive_key, encrypt
from sealedreg.storage.cid import CID, RAW
from tests.helpers.kubo import run_kubo, start_daemon
from tests.helpers.server import run_registry, stop

pytestmark = pytest.mark.integration


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    err = r.json()["errors"][0]
    assert err["code"] == "UNAVAILABLE" and "kubo" in err["message"]


def test_kubo_down_then_back(tmp_path):
    blob = os.urandom(3_000_000)
    d = digest_of(blob)
    with run_kubo(tmp_path) as node, run_registry(tmp_path / "data", ["--ipfs-api", node.api_url]) as srv:
        stop(node.proc)
        loc = httpx.post(f"{srv.url}/v2/a/blobs/uploads/").headers["location"]
        assert httpx.patch(srv.url + loc, content=blob).status_code == 202
        r = httpx.put(f"{srv.url}{loc}?digest={d}", timeout=60)
        assert_unavailable(r)
        assert httpx.head(f"{srv.url}/v2/a/blobs/{d}").status_code == 404  # nothing half-visible
        start_daemon(node)
        r = httpx.put(f"{srv.url}{loc}?digest={d}", timeout=60)  # the same session, retried
        assert r.status_code == 201, r.text
        assert httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=60).content == blob
        stop(node.proc)
        assert_unavailable(httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=60))
        start_daemon(node)
        assert httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=60).content == blob


@pytest.mark.parametrize("background", [False, True], ids=["synchronous", "acknowledged-then-stored"])
def test_kubo_killed_mid_push(tmp_path, background):
    """Synchronous: the commit fails 503 and the session stays for a retry.
    Acknowledged first (docs/format.md §2): the 201 stands, the blob is served
    from its verified upload, and it is stored once Kubo is back."""
    blob = os.urandom(20_000_000)
    d = digest_of(blob)
    env = {"SEALEDREG_BACKGROUND_ENCRYPTION": "true" if background else "false"}
    with run_kubo(tmp_path) as node, run_registry(tmp_path / "data", ["--ipfs-api", node.api_url], env=env) as srv:
        loc = httpx.post(f"{srv.url}/v2/a/blobs/uploads/").headers["location"]
        node.proc.send_signal(signal.SIGSTOP)  # the add will hang inside Kubo …
        result = {}
        t = threading.Thread(target=lambda: result.setdefault(
            "r", httpx.put(f"{srv.url}{loc}?digest={d}", content=blob, timeout=120)))
        t.start()
        session_data = tmp_path / "data" / "uploads" / loc.rsplit("/", 1)[1] / "data"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and t.is_alive() and (
                not session_data.exists() or session_data.stat().st_size < len(blob)):
            time.sleep(0.05)  # polling until the whole body is in and the registry turns to Kubo
        if background:
            t.join(120)
            assert result["r"].status_code == 201, result["r"].text
        node.proc.kill()  # … and then Kubo dies under it
        node.proc.wait()
        if not background:
            t.join(120)
            assert_unavailable(result["r"])
            assert httpx.head(f"{srv.url}/v2/a/blobs/{d}").status_code == 404
            start_daemon(node)
            r = httpx.put(f"{srv.url}{loc}?digest={d}", timeout=120)
            assert r.status_code == 201, r.text
        else:
            assert httpx.head(f"{srv.url}/v2/a/blobs/{d}").status_code == 200
            assert httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=120).content == blob  # from the upload
            start_daemon(node)
            deadline = time.monotonic() + 90
            while session_data.exists():
                assert time.monotonic() < deadline, "never stored once Kubo came back"
                time.sleep(0.1)  # polling: the landing retries with backoff
        got = httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=120).content
        assert got == blob


def test_paused_kubo_times_out_boundedly(tmp_path):
    blob = os.urandom(100_000)
    d = digest_of(blob)
    cfg = tmp_path / "c.toml"
    cfg.write_text("ipfs_timeout = 1.5\n")
    with run_kubo(tmp_path) as node, run_registry(tmp_path / "data", ["--ipfs-api", node.api_url,
                                                                      "--config", str(cfg)]) as srv:
        assert httpx.post(f"{srv.url}/v2/a/blobs/uploads/?digest={d}", content=blob).status_code == 201
        node.proc.send_signal(signal.SIGSTOP)
        try:
            t0 = time.monotonic()
            r = httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=60)
            elapsed = time.monotonic() - t0
            assert_unavailable(r)
            assert elapsed < 15, f"a paused Kubo held the request for {elapsed:.1f}s"
        finally:
            node.proc.send_signal(signal.SIGCONT)
        assert httpx.get(f"{srv.url}/v2/a/blobs/{d}", timeout=60).content == blob


def test_tampered_block_in_kubo_aborts_the_pull(tmp_path):
    blob = os.urandom(3 * 1_048_560 + 5)  # four chunks
    d = digest_of(blob)
    with run_kubo(tmp_path) as node, run_registry(tmp_path / "data", ["--ipfs-api", node.api_url]) as srv:
        assert httpx.post(f"{srv.url}/v2/a/blobs/uploads/?digest={d}", content=blob, timeout=60).status_code == 201
        # flatfs keeps each block in blocks/<shard>/<base32 multihash>.data: flip a byte in leaf 1
        leaf1 = encrypt(blob, derive_key(d))[1 << 20:2 << 20]
        key = base64.b32encode(CID.of(leaf1, RAW).multihash).decode().rstrip("=")
        (victim,) = (node.ipfs_path / "blocks").rglob(f"{key}.data")
        raw = bytearray(victim.read_bytes())
        raw[12345] ^= 0x40
        victim.write_bytes(bytes(raw))
        got = b""
        with pytest.raises(httpx.HTTPError):
            with httpx.stream("GET", f"{srv.url}/v2/a/blobs/{d}", timeout=60) as r:
                if r.status_code != 200:
                    raise httpx.HTTPError(f"status {r.status_code}")
                for piece in r.iter_bytes():
                    got += piece
        assert len(got) < len(blob)
        # a ranged read of the tampered region is refused too (each leaf checked against its CID)
        r = httpx.get(f"{srv.url}/v2/a/blobs/{d}", headers={"Range": "bytes=1048560-2097119"}, timeout=60)
        assert r.status_code == 500 and r.json()["errors"][0]["code"] == "UNKNOWN"
        # … while a range that avoids it is still served, verified
        r = httpx.get(f"{srv.url}/v2/a/blobs/{d}", headers={"Range": "bytes=0-99"}, timeout=60)
        assert r.status_code == 206 and r.content == blob[:100]
        assert "aborting blob response" in open(srv.log).read()
