"""Bulk reads from Kubo's HTTP gateway, in worker threads, with the standard
library's `http.client`: the body of a pull on Kubo.

Every other Kubo call goes through httpx (`storage.kubo_rpc`). This one is
apart because it carries every byte a pull sends: on loopback, httpx answered
a gateway `GET` of 10 MB in 2.7 ms and read its body in 10.6–11 ms (anyio and
h11's buffer copy each piece on the event loop); `http.client` answers in
1.6 ms and, reading whole ciphertext chunks in a worker thread (the socket
read lets go of the GIL), takes 7.5 ms (docs/benchmarks.md). A chunk-sized
piece is also what the decryption's framer passes on without a copy.

Connections are kept alive for the next read, a few at a time and never
longer than `KEEP_ALIVE` seconds idle; one reused connection that the node has
closed meanwhile is replaced once. A read abandoned mid-body closes its
connection. Transport failures raise OSError or `http.client.HTTPException`;
an answer other than 200/206 raises `GatewayRefused` with the node's words.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import AsyncIterator
from urllib.parse import urlsplit

KEEP_ALIVE = 5.0
"""Seconds an idle connection is kept for the next read."""

KEEP_AT_MOST = 8
"""Idle connections kept."""

ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error answer read for its message."""

READERS = 32
"""Reads at once. They have their own threads: a node still fetching a block
from the network holds its reader until the read timeout, and must not hold
the threads that decrypt and hash."""


class GatewayRefused(Exception):
    """The gateway answered, but not with the bytes: `status` and its message."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status
        self.body = body


class GatewayReader:
    """Reads `/ipfs/<cid>` byte ranges from one gateway (`http://host:port`)."""

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not an http:// gateway URL: {base_url!r}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(READERS, thread_name_prefix="sealedreg-gateway")

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new, unconnected one."""
        now = time.monotonic()
        with self._lock:
            while self._idle:
                conn, since = self._idle.pop()
                if now - since <= KEEP_ALIVE:
                    return conn, True
                conn.close()
        return http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < KEEP_AT_MOST:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections (a read in progress closes its own)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            conn.close()
        self._threads.shutdown(wait=False)

    def _ask(self, path: str, headers: dict[str, str]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send the request and read the answer's head (blocking: a worker thread's job)."""
        conn, reused = self._take()
        try:
            return conn, self._exchange(conn, path, headers)
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
            conn.close()
            if not reused:
                raise
        # The node closed the idle connection in the meantime: once more, on a new one.
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        try:
            return conn, self._exchange(conn, path, headers)
        except BaseException:
            conn.close()
            raise

    def _exchange(self, conn: http.client.HTTPConnection, path: str,
                  headers: dict[str, str]) -> http.client.HTTPResponse:
        if conn.sock is None:
            conn.connect()
        conn.sock.settimeout(self._read_timeout)  # between bytes from here on, not for the whole body
        conn.request("GET", path, headers=headers)
        return conn.getresponse()

    async def read(self, cid: str, offset: int, length: int, piece: int) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of the file `cid`, `piece` bytes at a
        time (the last may be shorter), the next piece read while this one is
        used. The caller checks it got `length` bytes."""
        loop = asyncio.get_running_loop()
        headers = {"Accept-Encoding": "identity"}  # the raw body is the file's bytes, never a compressed form
        if length:
            headers["Range"] = f"bytes={offset}-{offset + length - 1}"
        asking = self._threads.submit(self._ask, f"/ipfs/{cid}", headers)
        try:
            conn, answer = await asyncio.wrap_future(asking)
        except asyncio.CancelledError:  # nobody will read this answer: close its connection once it comes
            asking.add_done_callback(_close_unread)
            raise
        pending: asyncio.Future | None = None
        finished = False
        try:
            if answer.status not in (200, 206):
                body = await loop.run_in_executor(self._threads, answer.read, ERROR_BODY_LIMIT)
                raise GatewayRefused(answer.status, body)
            if answer.status == 200 and offset:
                raise GatewayRefused(200, b"the gateway ignored the byte range")
            pending = loop.run_in_executor(self._threads, answer.read, piece)
            while True:
                data = await pending
                pending = None
                if not data:
                    break
                pending = loop.run_in_executor(self._threads, answer.read, piece)
                yield data
            finished = answer.isclosed()
        finally:
            if pending is not None:  # abandoned mid-body: unblock the read, then close
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except (OSError, AttributeError):
                    pass
                try:
                    await pending
                except Exception:  # noqa: BLE001 - the read is being abandoned
                    pass
            if finished and not answer.will_close:
                self._give_back(conn)
            else:
                conn.close()


def _close_unread(asked: Future) -> None:
    if not asked.cancelled() and asked.exception() is None:
        asked.result()[0].close()
