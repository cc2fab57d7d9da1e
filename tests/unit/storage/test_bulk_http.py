"""The Kubo client's transport reads large bodies in large pieces
(sealedreg/storage/bulk_http.py), and is otherwise httpx's own."""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from sealedreg.storage import bulk_http
from sealedreg.storage.bulk_http import READ_SIZE, BulkTransport

BODY = os.urandom(4 << 20)


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n"
                 % len(BODY) + BODY)
    await writer.drain()
    writer.close()


def test_a_large_body_is_read_in_large_pieces_and_arrives_whole(monkeypatch: pytest.MonkeyPatch):
    sizes: list[int] = []
    read = bulk_http._LargeReads.read

    async def recording(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = await read(self, max_bytes, timeout)
        sizes.append(len(data))
        return data

    monkeypatch.setattr(bulk_http._LargeReads, "read", recording)

    async def go() -> bytes:
        server = await asyncio.start_server(_serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(transport=BulkTransport(httpx.Limits(max_connections=2))) as client:
                async with client.stream("GET", f"http://127.0.0.1:{port}/ipfs/x") as r:
                    assert r.status_code == 200
                    return b"".join([piece async for piece in r.aiter_raw()])
        finally:
            server.close()
            await server.wait_closed()

    assert asyncio.run(go()) == BODY
    assert max(sizes) > 64 * 1024  # more than httpcore's own 64 KiB reads
    assert max(sizes) <= READ_SIZE


def test_a_refused_connection_is_httpx_s_connect_error():
    async def go() -> None:
        async with httpx.AsyncClient(transport=BulkTransport(httpx.Limits(max_connections=1))) as client:
            await client.get("http://127.0.0.1:9/")  # discard port: nothing listens

    with pytest.raises(httpx.ConnectError):
        asyncio.run(go())
