"""Limits against the real `serve`: a client holding its allowance of uploads
open gets 429 TOOMANYREQUESTS (the OCI error body, Retry-After) for one more,
and a real client pushes normally once the slots come back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.server import run_registry

pytestmark = pytest.mark.integration


def test_uploads_past_the_per_client_limit_are_refused_then_pushes_work(tmp_path):
    img = write_image(tmp_path / "img", layers=[50_000], seed=3, compresslevel=0, tag="t")
    env = {"SEALEDREG_MAX_UPLOADS_PER_CLIENT": "2"}
    with run_registry(tmp_path / "data", env=env) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        async def go() -> None:
            go_on = asyncio.Event()
            sent = [asyncio.Event(), asyncio.Event()]

            def body(i: int):
                async def chunks():
                    yield b"x" * 65536
                    sent[i].set()
                    await go_on.wait()
                return chunks()

            async with httpx.AsyncClient(base_url=srv.url, timeout=60) as client:
                locations = [(await client.post(f"/v2/x.org/r{i}/blobs/uploads/")).headers["location"]
                             for i in range(3)]
                held = [asyncio.create_task(client.patch(locations[i], content=body(i))) for i in range(2)]
                await asyncio.gather(*(e.wait() for e in sent))
                refused = await client.patch(locations[2], content=b"z" * 1000)
                assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
                assert refused.json() == {"errors": [{"code": "TOOMANYREQUESTS", "message":
                                                      "more than 2 uploads at once from one client; retry shortly"}]}
                go_on.set()
                assert [r.status_code for r in await asyncio.gather(*held)] == [202, 202]

        asyncio.run(go())
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t", f"docker://{srv.address}/x.org/app:1",
                  debug=False)


def test_a_client_that_stalls_mid_body_is_cut_off_and_others_are_served(tmp_path):
    import socket

    env = {"SEALEDREG_BODY_TIMEOUT": "1"}
    with run_registry(tmp_path / "data", env=env) as srv:
        where = httpx.post(f"{srv.url}/v2/x.org/slow/blobs/uploads/").headers["location"]
        with socket.create_connection((srv.host, srv.port), timeout=60) as sock:
            sock.sendall(f"PATCH {where} HTTP/1.1\r\nHost: {srv.address}\r\nContent-Length: 100000\r\n"
                         "Content-Type: application/octet-stream\r\n\r\n".encode() + b"x" * 1000)
            assert httpx.get(f"{srv.url}/v2/").status_code == 200  # meanwhile, others are served
            answer = b""
            while b"BLOB_UPLOAD_INVALID" not in answer:  # the server answers on its own: no sleep here
                piece = sock.recv(65536)
                if not piece:
                    break
                answer += piece
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        assert b'"code": "BLOB_UPLOAD_INVALID"' in answer, answer[:400]


def test_a_client_that_trickles_its_headers_is_disconnected(tmp_path):
    import socket

    with run_registry(tmp_path / "data", env={"SEALEDREG_HEADER_TIMEOUT": "1"}) as srv:
        with socket.create_connection((srv.host, srv.port), timeout=60) as slow, \
                socket.create_connection((srv.host, srv.port), timeout=60) as idle:
            slow.sendall(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            kept = httpx.Client(base_url=srv.url)
            for _ in range(3):  # a kept-alive client making ordinary requests is unaffected
                assert kept.get("/v2/").status_code == 200
            assert slow.recv(65536) == b""  # closed by the server (recv blocks until it is)
            assert idle.recv(65536) == b""  # a connection that never sends a request, too
            kept.close()


def test_oversize_manifests_and_blobs_are_refused_with_the_oci_error_and_others_push(tmp_path):
    import hashlib
    import json

    big = write_image(tmp_path / "big", layers=[300_000], seed=5, compresslevel=0, tag="t")
    small = write_image(tmp_path / "small", layers=[20_000], seed=6, compresslevel=0, tag="t")
    env = {"SEALEDREG_MAX_BLOB_SIZE": "100000", "SEALEDREG_MAX_MANIFEST_SIZE": "2048"}
    with run_registry(tmp_path / "data", env=env) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        refused = sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{big.path}:t",
                            f"docker://{srv.address}/x.org/big:1", check=False, debug=False)
        assert refused.returncode != 0  # a real client pushing a blob over the limit gives up
        layer = big.blob_path(big.layer_digests[0]).read_bytes()
        digest = "sha256:" + hashlib.sha256(layer).hexdigest()
        r = httpx.post(f"{srv.url}/v2/x.org/big/blobs/uploads/", params={"digest": digest}, content=layer)
        assert r.status_code == 413 and r.json()["errors"][0]["code"] == "SIZE_INVALID"
        manifest = json.dumps({"schemaVersion": 2, "annotations": {"pad": "x" * 4096}}).encode()
        r = httpx.put(f"{srv.url}/v2/x.org/big/manifests/1", content=manifest,
                      headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 413 and r.json()["errors"][0]["code"] == "SIZE_INVALID"
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{small.path}:t",
                  f"docker://{srv.address}/x.org/small:1", debug=False)  # within the limits: fine
