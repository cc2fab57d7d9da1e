"""The Kubo RPC client's pieces that need no node (the calls themselves are
tested against a real Kubo in tests/integration/test_kubo_client.py)."""

import asyncio
import json

from sealedreg.storage.kubo_rpc import ADD_PARAMS, KuboError, Multipart, _error
from sealedreg.storage.unixfs import CHUNK_SIZE, MAX_LINKS


def run(coro):
    return asyncio.run(coro)


def test_multipart_bodies_are_one_file_each():
    whole = Multipart("data", "block", b"payload")
    boundary = whole.headers["Content-Type"].split("boundary=")[1]
    body = whole.whole()
    assert body.startswith(f"--{boundary}\r\n".encode()) and body.endswith(f"\r\n--{boundary}--\r\n".encode())
    assert b'name="data"; filename="block"' in body and b"\r\n\r\npayload\r\n" in body

    async def parts():
        yield b"pay"
        yield b"load"

    streamed = Multipart("file", "blob", parts())
    got = run(_collect(streamed.stream()))
    assert got[1:3] == [b"pay", b"load"] and got[0].endswith(b"\r\n\r\n")


async def _collect(stream):
    return [p async for p in stream]


def test_add_pins_the_import_parameters():
    assert ADD_PARAMS["cid-version"] == "1" and ADD_PARAMS["raw-leaves"] == "true"
    assert ADD_PARAMS["chunker"] == f"size-{CHUNK_SIZE}" and ADD_PARAMS["max-file-links"] == str(MAX_LINKS)
    assert ADD_PARAMS["trickle"] == "false"


def test_errors_carry_kubos_message():
    err = _error("block/get", 500, json.dumps({"Message": "block was not found locally", "Code": 0}).encode())
    assert isinstance(err, KuboError) and err.kubo_message == "block was not found locally" and err.status == 500
    assert _error("cat", 502, b"<html>bad gateway</html>").kubo_message == "<html>bad gateway</html>"
    assert _error("cat", 500, b"").kubo_message == "HTTP 500"
