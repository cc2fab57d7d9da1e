"""Large blobs acknowledged before they are encrypted (docs/format.md §2), against
the real `serve`: a real client pulls what it just pushed, the store never
holds a plaintext byte, and a SIGKILL right after the 201 loses nothing."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.backends import BACKENDS
from tests.helpers.clients import ClientSandbox
from tests.helpers.kubo import run_kubo
from tests.helpers.ocilayout import write_image
from tests.helpers.server import run_registry

pytestmark = pytest.mark.integration


def committed_sessions(data_dir: Path) -> list[str]:
    found = []
    for record in (data_dir / "uploads").glob("*/commit.json"):
        try:
            if json.loads(record.read_text()).get("digest"):
                found.append(record.parent.name)
        except (OSError, ValueError):
            pass  # removed while we looked
    return found


def wait_landed(data_dir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while committed_sessions(data_dir):
        assert time.monotonic() < deadline, "acknowledged blobs were never stored"
        time.sleep(0.05)  # polling the data directory: nothing else announces it


def test_a_client_pulls_at_once_what_it_pushed_and_the_store_holds_only_ciphertext(tmp_path):
    img = write_image(tmp_path / "img", layers=[12_000_000, 50_000], seed=11, compresslevel=0, tag="t")
    data_dir = tmp_path / "data"
    with run_registry(data_dir) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t", f"docker://{srv.address}/x.org/app:1",
                  debug=False)
        out = tmp_path / "pulled"
        sb.skopeo("copy", "--src-tls-verify=false", f"docker://{srv.address}/x.org/app:1", f"dir:{out}",
                  debug=False)
        size, digest = max(zip(img.layer_sizes, img.layer_digests))
        data = img.blob_path(digest).read_bytes()
        assert (out / digest.split(":", 1)[1]).read_bytes() == data
        wait_landed(data_dir)
        probe = data[4096:4096 + 64]
        for block in (data_dir / "blocks").rglob("*"):
            if block.is_file():
                assert probe not in block.read_bytes(), f"plaintext in {block}"
        assert not list((data_dir / "uploads").iterdir())  # nothing left once stored


@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkill_right_after_the_201_loses_nothing(tmp_path, backend):
    with contextlib.ExitStack() as stack:
        extra = [] if backend == "embedded" else ["--ipfs-api", stack.enter_context(run_kubo(tmp_path)).api_url]
        crash_and_restart(tmp_path / "data", extra)


def crash_and_restart(data_dir: Path, extra: list[str]) -> None:
    blob = os.urandom(48 * 1024 * 1024)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with run_registry(data_dir, extra) as srv:
        loc = httpx.post(f"{srv.url}/v2/x.org/app/blobs/uploads/").headers["location"]
        loc = httpx.patch(srv.url + loc, content=blob, timeout=120).headers["location"]
        done = httpx.put(srv.url + loc, params={"digest": digest}, timeout=120)
        srv.proc.kill()  # at once: encrypting 48 MB takes far longer than this
        srv.proc.wait()
        assert done.status_code == 201
    assert committed_sessions(data_dir), "the blob was stored before the kill: the window was not tested"

    with run_registry(data_dir, extra) as srv:
        head = httpx.head(f"{srv.url}/v2/x.org/app/blobs/{digest}")
        assert head.status_code == 200 and head.headers["content-length"] == str(len(blob))
        assert httpx.get(f"{srv.url}/v2/x.org/app/blobs/{digest}", timeout=120).content == blob
        wait_landed(data_dir)
        assert httpx.get(f"{srv.url}/v2/x.org/app/blobs/{digest}", timeout=120).content == blob
        ranged = httpx.get(f"{srv.url}/v2/x.org/app/blobs/{digest}", headers={"Range": "bytes=5000000-5000099"})
        assert ranged.status_code == 206 and ranged.content == blob[5_000_000:5_000_100]
