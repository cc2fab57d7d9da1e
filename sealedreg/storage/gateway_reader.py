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
closed meanwhile is replaced once. A read abandoned or cancelled at any point
shuts its socket down, so no worker waits out the read timeout, and closes
it. Transport failures — a body cut short included — raise OSError or
`http.client.HTTPException`; an answer other than 200/206 raises
`GatewayRefused` with the node's words.
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import AsyncIterator, Callable, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")

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


class _Exchange:
    """One request on one connection, and the socket it runs on: kept apart
    from the connection, which forgets its socket when an answer says
    `Connection: close`."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.sock: socket.socket | None = None
        self.answer: http.client.HTTPResponse | None = None
        self.aborted = False

    def abort(self) -> None:
        """Unblock a worker reading this exchange, and keep it from starting
        another try (callable from any thread)."""
        self.aborted = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        if self.answer is not None:
            self.answer.close()
        self.conn.close()


class GatewayReader:
    """Reads `/ipfs/<cid>` byte ranges from one gateway (`http[s]://host[:port][/prefix]`)."""

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ValueError(f"not an http(s):// gateway URL: {base_url!r}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._prefix = parts.path.rstrip("/")
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[tuple[http.client.HTTPConnection, float]] = []
        self._busy: set[_Exchange] = set()
        self._closed = False
        self._lock = threading.Lock()
        self._threads = ThreadPoolExecutor(READERS, thread_name_prefix="sealedreg-gateway")

    # -- connections (any thread) --------------------------------------------
    def _new(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return kind(self._host, self._port, timeout=self._connect_timeout)

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection (reused: True) or a new, unconnected one."""
        now = time.monotonic()
        with self._lock:
            if self._closed:
                raise ConnectionError("the gateway reader is closed")
            while self._idle:
                conn, since = self._idle.pop()
                if now - since <= KEEP_ALIVE:
                    return conn, True
                conn.close()
        return self._new(), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < KEEP_AT_MOST:
                self._idle.append((conn, time.monotonic()))
                return
        conn.close()

    def close(self) -> None:
        """Close the idle connections and cut the reads in progress short."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = list(self._busy)
        for conn, _ in idle:
            conn.close()
        for exchange in busy:
            exchange.abort()
        self._threads.shutdown(wait=False)

    # -- one exchange (worker threads) ------------------------------------------
    def _ask(self, exchange: _Exchange, path: str, headers: dict[str, str], reused: bool) -> None:
        """Send the request and read the answer's head."""
        try:
            self._exchange(exchange, path, headers)
            return
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
            if not reused or exchange.aborted:  # an abandoned read is not a closed idle connection
                raise
        # The node closed the idle connection in the meantime: once more, on a new one.
        exchange.conn.close()
        exchange.conn, exchange.sock = self._new(), None
        self._exchange(exchange, path, headers)

    def _exchange(self, exchange: _Exchange, path: str, headers: dict[str, str]) -> None:
        conn = exchange.conn
        if conn.sock is None:
            conn.connect()
        exchange.sock = conn.sock
        if self._closed or exchange.aborted:  # abandoned, or closed, before this socket was known
            raise ConnectionError("the gateway read was abandoned")
        conn.sock.settimeout(self._read_timeout)  # between bytes from here on, not for the whole body
        conn.request("GET", path, headers=headers)
        exchange.answer = conn.getresponse()

    # -- the read (event loop) --------------------------------------------------
    def _submit(self, fn: Callable[..., T], *args: object) -> Future:
        try:
            return self._threads.submit(fn, *args)
        except RuntimeError:  # the pool is shut down: close() came first
            raise ConnectionError("the gateway reader is closed") from None

    async def _in_thread(self, exchange: _Exchange, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a reader thread. If this task is cancelled meanwhile, the
        exchange is aborted and the thread is waited for before CancelledError
        goes on, so nothing is left reading a connection about to be closed."""
        work = self._submit(fn, *args)
        try:
            return await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            exchange.abort()
            await _settled(work)
            raise

    async def read(self, cid: str, offset: int, length: int, piece: int) -> AsyncIterator[bytes]:
        """Bytes [offset, offset+length) of the file `cid`, `piece` bytes at a
        time (the last may be shorter), the next piece read while this one is
        used. The caller checks it got `length` bytes."""
        headers = {"Accept-Encoding": "identity"}  # the raw body is the file's bytes, never a compressed form
        if length:
            headers["Range"] = f"bytes={offset}-{offset + length - 1}"
        conn, reused = self._take()
        exchange = _Exchange(conn)
        with self._lock:
            self._busy.add(exchange)
        pending: Future | None = None
        complete = False
        try:
            await self._in_thread(exchange, self._ask, exchange, f"{self._prefix}/ipfs/{cid}", headers, reused)
            answer = exchange.answer
            assert answer is not None
            if answer.status not in (200, 206):
                raise GatewayRefused(answer.status, await self._in_thread(exchange, answer.read, ERROR_BODY_LIMIT))
            if answer.status == 200 and offset:
                raise GatewayRefused(200, b"the gateway ignored the byte range")
            pending = self._submit(answer.read, piece)
            while True:
                data = await asyncio.wrap_future(pending)
                pending = None
                if not data:
                    break
                pending = self._submit(answer.read, piece)
                yield data
            if answer.length:  # http.client ends a body cut short with b"", not an error
                raise http.client.IncompleteRead(b"", answer.length)
            complete = answer.isclosed() and not answer.will_close
        finally:
            if pending is not None:  # abandoned, cancelled or failed mid-body
                exchange.abort()
                await _settled(pending)
            with self._lock:
                self._busy.discard(exchange)
            if complete:
                self._give_back(exchange.conn)
            else:
                exchange.close()


async def _settled(work: Future) -> None:
    """Wait for a worker's call to end, whatever it ends with (its socket has
    been shut down); a cancellation meanwhile is passed on once it has."""
    cancelled = False
    while not work.done():
        try:
            await asyncio.wrap_future(work)
        except asyncio.CancelledError:
            cancelled = True
        except Exception:  # noqa: BLE001 - the read is being abandoned
            break
    if cancelled:
        raise asyncio.CancelledError
