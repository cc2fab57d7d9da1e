"""`sealedreg serve` as a process: start-up message, restart survival, SIGTERM drain."""

from __future__ import annotations

import hashlib
import signal
import subprocess
import sys
import threading

import httpx
import pytest

from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration


def test_startup_message_names_listen_and_store(tmp_path):
    with run_registry(tmp_path / "data") as srv:
        pass
    text = srv.log.read_text()
    assert f"listening on http://127.0.0.1:{srv.port}" in text
    assert "store: embedded" in text


def test_bad_config_is_one_line_and_nonzero(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("bogus = 1\n")
    p = subprocess.run([sys.executable, "-m", "sealedreg", "serve", "--config", str(cfg)],
                       capture_output=True, text=True, cwd=REPO_ROOT)
    assert p.returncode != 0
    assert "unknown option 'bogus'" in p.stderr
    assert "Traceback" not in p.stderr


def test_push_survives_restart_and_sessions_resume(tmp_path):
    data = b"persistent" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with run_registry(tmp_path / "data") as srv:
        r = httpx.post(f"{srv.url}/v2/a/blobs/uploads/?digest={digest}", content=data)
        assert r.status_code == 201
        loc = httpx.post(f"{srv.url}/v2/a/blobs/uploads/").headers["location"]
        assert httpx.patch(srv.url + loc, content=data[:100]).status_code == 202
    with run_registry(tmp_path / "data") as srv:
        assert httpx.get(f"{srv.url}/v2/a/blobs/{digest}").content == data
        assert httpx.get(srv.url + loc).headers["range"] == "0-99"
        httpx.patch(srv.url + loc, content=data[100:], headers={"Content-Range": f"100-{len(data) - 1}"})
        assert httpx.put(f"{srv.url}{loc}?digest={digest}").status_code == 201


def test_sigterm_drains_in_flight_upload(tmp_path):
    data = b"d" * 200_000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    first_sent = threading.Event()
    release = threading.Event()

    def body():
        yield data[:100_000]
        first_sent.set()
        release.wait(10)
        yield data[100_000:]

    with run_registry(tmp_path / "data") as srv:
        loc = httpx.post(f"{srv.url}/v2/a/blobs/uploads/").headers["location"]
        result = {}

        def upload():
            result["r"] = httpx.put(f"{srv.url}{loc}?digest={digest}", content=body(), timeout=30)

        t = threading.Thread(target=upload)
        t.start()
        assert first_sent.wait(10)
        srv.proc.send_signal(signal.SIGTERM)
        release.set()
        t.join(30)
        assert result["r"].status_code == 201
        assert srv.proc.wait(30) == 0
    with run_registry(tmp_path / "data") as srv:
        assert httpx.get(f"{srv.url}/v2/a/blobs/{digest}").content == data
