"""An httpx transport for large response bodies: the Kubo client's.

Some Kubo answers are whole blobs' ciphertext: `cat` (a node without a
gateway), `dag/export` (CAR export, garbage collection, the trustless gateway). (A pull through the gateway has
its own reader, `storage.gateway_reader`.) httpcore reads a socket 64 KiB at
a time; each read then climbs through anyio, h11 and httpx. Measured on a
loopback gateway, 200 MiB cost 0.40 s of this process's CPU that way and
0.21 s with 256 KiB reads — as much CPU as decrypting the same bytes. So
this transport's streams read at least READ_SIZE bytes whenever the socket
has them; smaller answers are unaffected, and h11 takes whatever a read
returns.

httpcore lets a connection pool take a network backend (its documented
extension point); httpx's transport does not expose it, so `BulkTransport`
builds its pool with one. Like any transport given to httpx, it ignores
HTTP_PROXY and friends: the Kubo API is reached directly.
"""

from __future__ import annotations

import ssl
from typing import Any, Iterable

import httpcore
import httpx

READ_SIZE = 256 * 1024
"""Bytes asked of the socket per read (at least; httpcore asks for 64 KiB)."""


class _LargeReads(httpcore.AsyncNetworkStream):
    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._stream.read(max(max_bytes, READ_SIZE), timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                        timeout: float | None = None) -> httpcore.AsyncNetworkStream:
        return _LargeReads(await self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _LargeReadsBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                          local_address: str | None = None,
                          socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _LargeReads(await self._backend.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(self, path: str, timeout: float | None = None,
                                  socket_options: Iterable[Any] | None = None) -> httpcore.AsyncNetworkStream:
        return _LargeReads(await self._backend.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class BulkTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request and error mapping), on a pool whose
    connections read in READ_SIZE pieces."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_LargeReadsBackend(),
        )
