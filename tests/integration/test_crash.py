"""A registry killed (SIGKILL) in the middle of a PATCH: nothing half-visible,
the session resumable, no scratch left behind."""

from __future__ import annotations

import hashlib
import threading
import time

import httpx
import pytest

from tests.helpers.server import run_registry

pytestmark = pytest.mark.integration


def test_sigkill_mid_patch(tmp_path):
    data_dir = tmp_path / "data"
    first = b"a" * 1_000_000
    rest = b"b" * 1_000_000
    digest = "sha256:" + hashlib.sha256(first + rest).hexdigest()
    sent = threading.Event()
    hold = threading.Event()

    def body():
        yield first
        yield b"x" * 3_000_000  # part of a chunk that never completes
        sent.set()
        hold.wait(10)
        yield b"never"

    with run_registry(data_dir) as srv:
        loc = httpx.post(f"{srv.url}/v2/a/blobs/uploads/").headers["location"]
        assert httpx.patch(srv.url + loc, content=first).status_code == 202

        def doomed():
            try:
                httpx.patch(srv.url + loc, content=body(), timeout=20)
            except httpx.TransportError:
                pass

        t = threading.Thread(target=doomed)
        t.start()
        assert sent.wait(10)
        session_data = data_dir / "uploads" / loc.rsplit("/", 1)[1] / "data"
        deadline = time.monotonic() + 10
        while session_data.stat().st_size <= len(first) and time.monotonic() < deadline:
            time.sleep(0.01)  # polling for the torn write to reach the disk
        assert session_data.stat().st_size > len(first), "the torn chunk never reached the disk"
        srv.proc.kill()
        srv.proc.wait()
        hold.set()
        t.join(20)

    with run_registry(data_dir) as srv:
        assert httpx.head(f"{srv.url}/v2/a/blobs/{digest}").status_code == 404
        status = httpx.get(srv.url + loc)
        assert status.status_code == 204
        assert status.headers["range"] == f"0-{len(first) - 1}"
        r = httpx.patch(srv.url + loc, content=rest, headers={"Content-Range": f"{len(first)}-{len(first) + len(rest) - 1}"})
        assert r.status_code == 202
        assert httpx.put(f"{srv.url}{loc}?digest={digest}").status_code == 201
        assert httpx.get(f"{srv.url}/v2/a/blobs/{digest}").content == first + rest
    assert list((data_dir / "uploads").iterdir()) == []
    assert list((data_dir / "tmp").iterdir()) == []


def test_failed_uploads_leave_no_files(tmp_path):
    data_dir = tmp_path / "data"
    with run_registry(data_dir) as srv:
        for _ in range(3):
            r = httpx.post(f"{srv.url}/v2/a/blobs/uploads/?digest=sha256:{'0' * 64}", content=b"wrong")
            assert r.status_code == 400
        loc = httpx.post(f"{srv.url}/v2/a/blobs/uploads/").headers["location"]
        httpx.patch(srv.url + loc, content=b"some")
        assert httpx.put(f"{srv.url}{loc}?digest=sha256:{'1' * 64}").status_code == 400
        assert list((data_dir / "uploads").iterdir()) == []
        assert list((data_dir / "tmp").iterdir()) == []
        assert [p for p in (data_dir / "blocks").rglob("*") if p.is_file()] == []
