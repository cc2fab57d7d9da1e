"""An async client for Kubo's RPC API (`/api/v0/…`): just the calls the Kubo
backend makes, typed.

Everything streams: `add` sends a multipart body generated chunk by chunk
(never the whole blob in memory), `cat` and `dag/export` are read as they
arrive. Every call has a timeout; idempotent reads are retried with
backoff; a Kubo that cannot be reached raises `KuboUnavailable` (the API
answers 503), a Kubo that refuses raises `KuboError` with Kubo's message.

The import parameters are docs/format.md §3's, passed on every `add`, so the
CIDs are the embedded backend's whatever the node's own config says.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, AsyncIterable, AsyncIterator, Iterator

import httpx

from sealedreg.metrics import KUBO_RPC_DURATION, KUBO_RPC_ERRORS
from sealedreg.storage.base import StorageError, StorageUnavailable
from sealedreg.storage.bulk_http import BulkTransport
from sealedreg.storage.gateway_reader import GatewayReader, GatewayRefused
from sealedreg.storage.unixfs import CHUNK_SIZE, MAX_LINKS

ADD_PARAMS = {
    "cid-version": "1",
    "hash": "sha2-256",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "max-file-links": str(MAX_LINKS),
    "trickle": "false",
    "inline": "false",
    "progress": "false",
    "quieter": "true",
}


class KuboError(StorageError):
    """Kubo answered with an error; the message is Kubo's."""

    def __init__(self, command: str, message: str, status: int | None = None) -> None:
        super().__init__(f"kubo {command}: {message}")
        self.command = command
        self.kubo_message = message
        self.status = status


class KuboUnavailable(KuboError, StorageUnavailable):
    """Kubo could not be reached, or did not answer in time."""


@dataclass(frozen=True)
class KuboTimeouts:
    connect: float = 3.0
    read: float = 30.0  # between bytes of a response, not for a whole transfer
    retries: int = 3
    backoff: float = 0.2


class Multipart:
    """A one-file `multipart/form-data` body, the form every Kubo upload takes."""

    def __init__(self, field: str, filename: str, data: bytes | AsyncIterable[bytes]) -> None:
        boundary = secrets.token_hex(16)
        self.headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        self._head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
                      f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        self._tail = f"\r\n--{boundary}--\r\n".encode()
        self._data = data

    def whole(self) -> bytes:
        assert isinstance(self._data, bytes)
        return self._head + self._data + self._tail

    async def stream(self) -> AsyncIterator[bytes]:
        assert not isinstance(self._data, bytes)
        yield self._head
        async for chunk in self._data:
            yield chunk
        yield self._tail


class KuboClient:
    def __init__(self, api_url: str, timeouts: KuboTimeouts | None = None, gateway_url: str | None = None) -> None:
        """`gateway_url`: Kubo's HTTP gateway for bulk reads; None finds it from
        the node's config, "" never uses one (reads go through `cat`)."""
        self.api_url = api_url.rstrip("/")
        self.timeouts = timeouts or KuboTimeouts()
        self._gateway: str | None = gateway_url.rstrip("/") if gateway_url else gateway_url
        t = self.timeouts
        self._http = httpx.AsyncClient(
            base_url=f"{self.api_url}/api/v0/",
            timeout=httpx.Timeout(connect=t.connect, read=t.read, write=t.read, pool=t.connect),
            transport=BulkTransport(httpx.Limits(max_connections=32, max_keepalive_connections=8)),
        )
        self._gateway_reader: GatewayReader | None = None  # made when the gateway is known

    async def aclose(self) -> None:
        await self._http.aclose()
        if self._gateway_reader is not None:
            self._gateway_reader.close()

    # -- plumbing -------------------------------------------------------------
    async def _call(self, command: str, params: Any = None, *, content: Any = None,
                    headers: dict[str, str] | None = None, idempotent: bool = True) -> httpx.Response:
        with _observed(command):
            return await self._call_once(command, params, content=content, headers=headers, idempotent=idempotent)

    async def _call_once(self, command: str, params: Any, *, content: Any, headers: dict[str, str] | None,
                         idempotent: bool) -> httpx.Response:
        attempts = self.timeouts.retries if idempotent else 1
        for attempt in range(attempts):
            try:
                r = await self._http.post(command, params=params, content=content, headers=headers)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt + 1 < attempts:
                    await asyncio.sleep(self.timeouts.backoff * 2 ** attempt)
                    continue
                raise KuboUnavailable(command, f"{type(exc).__name__}: {exc or 'no answer'}") from None
            if r.status_code in (502, 503, 504) and attempt + 1 < attempts:
                await asyncio.sleep(self.timeouts.backoff * 2 ** attempt)
                continue
            if r.status_code != 200:
                raise _error(command, r.status_code, r.content)
            return r
        raise AssertionError("unreachable")

    async def _json(self, command: str, params: Any = None, **kw: Any) -> Any:
        r = await self._call(command, params, **kw)
        try:
            return r.json()
        except ValueError:
            raise KuboError(command, "answer is not JSON") from None

    async def _stream(self, command: str, params: Any, piece: int | None = None) -> AsyncIterator[bytes]:
        """Stream a response body (in pieces of `piece` bytes when given, the
        last excepted); the caller checks it got every byte it asked for."""
        try:
            with _observed(command):
                async with self._http.stream("POST", command, params=params) as r:
                    if r.status_code != 200:
                        raise _error(command, r.status_code, await r.aread())
                    async for chunk in r.aiter_raw():  # as read: the caller frames it (no re-chunking copy)
                        yield chunk
                    # Kubo reports a failure after the headers only in an HTTP trailer,
                    # which httpx does not expose: callers check the length they got.
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise KuboUnavailable(command, f"{type(exc).__name__}: {exc or 'no answer'}") from None

    # -- files (UnixFS) -------------------------------------------------------
    async def add(self, chunks: AsyncIterable[bytes], *, pin: bool = True) -> tuple[str, int]:
        """Add one file whose bytes are `chunks`, streamed; return (root CID, bytes)."""
        total = 0

        async def counted() -> AsyncIterator[bytes]:
            nonlocal total
            async for chunk in chunks:
                total += len(chunk)
                yield chunk

        body = Multipart("file", "blob", counted())
        r = await self._call("add", {**ADD_PARAMS, "pin": "true" if pin else "false"}, content=body.stream(),
                             headers=body.headers, idempotent=False)
        lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        roots = [line for line in lines if "Hash" in line]
        if not roots:
            raise KuboError("add", f"no CID in the answer: {r.text[:200]!r}")
        return roots[-1]["Hash"], total

    def cat(self, cid: str, offset: int = 0, length: int | None = None,
            piece: int | None = None) -> AsyncIterator[bytes]:
        params = {"arg": cid, "offset": str(offset)}
        if length is not None:
            params["length"] = str(length)
        return self._stream("cat", params, piece)

    async def gateway(self) -> str:
        """The node's HTTP gateway URL ("" when it has none we can reach)."""
        if self._gateway is None:
            self._gateway = await self._discover_gateway()
        return self._gateway

    async def _discover_gateway(self) -> str:
        try:
            value = (await self._json("config", {"arg": "Addresses.Gateway"})).get("Value")
        except KuboError as exc:
            if isinstance(exc, KuboUnavailable):
                raise
            return ""
        api_host = httpx.URL(self.api_url).host
        for addr in value if isinstance(value, list) else [value]:
            parts = str(addr).split("/")
            if len(parts) >= 5 and parts[1] in ("ip4", "ip6") and parts[3] == "tcp":
                host = parts[2]
                if host in ("0.0.0.0", "::"):
                    host = api_host
                elif host != api_host and host.startswith(("127.", "::1")):
                    continue  # the node's loopback is not ours
                return f"http://[{host}]:{parts[4]}" if ":" in host else f"http://{host}:{parts[4]}"
        return ""

    async def read_file(self, cid: str, offset: int, length: int, piece: int) -> AsyncIterator[bytes]:
        """File bytes [offset, offset+length) of a UnixFS DAG, as fast as the node
        can give them: through its gateway (a plain, sized HTTP body) when it
        has one, else through `cat`."""
        gateway = await self.gateway()
        if not gateway:
            async for chunk in self.cat(cid, offset, length, piece=piece):
                yield chunk
            return
        if self._gateway_reader is None:
            self._gateway_reader = GatewayReader(gateway, self.timeouts.connect, self.timeouts.read)
        try:
            with _observed("gateway"):
                async with contextlib.aclosing(self._gateway_reader.read(cid, offset, length, piece)) as pieces:
                    async for chunk in pieces:
                        yield chunk
        except GatewayRefused as exc:
            raise _error("gateway", exc.status, exc.body) from None
        except (OSError, http.client.HTTPException) as exc:
            raise KuboUnavailable("gateway", f"{type(exc).__name__}: {exc or 'no answer'}") from None

    # -- blocks and DAGs ------------------------------------------------------
    async def block_get(self, cid: str) -> bytes:
        return (await self._call("block/get", {"arg": cid})).content

    async def block_put(self, block: bytes, codec: str) -> str:
        body = Multipart("data", "block", block)
        answer = await self._json("block/put", {"cid-codec": codec, "mhtype": "sha2-256", "pin": "false"},
                                  content=body.whole(), headers=body.headers)
        return answer["Key"]

    async def refs(self, cid: str) -> list[str]:
        """Every CID below `cid` (recursive, unique)."""
        r = await self._call("refs", {"arg": cid, "recursive": "true", "unique": "true"})
        out = []
        for line in r.text.splitlines():
            if line.strip():
                entry = json.loads(line)
                if entry.get("Err"):
                    raise KuboError("refs", entry["Err"])
                out.append(entry["Ref"])
        return out

    def dag_export(self, cid: str) -> AsyncIterator[bytes]:
        return self._stream("dag/export", {"arg": cid})

    # -- pins -----------------------------------------------------------------
    async def pin_add(self, cid: str) -> None:
        await self._call("pin/add", {"arg": cid, "recursive": "true"}, idempotent=True)

    async def pin_rm(self, cid: str) -> None:
        try:
            await self._call("pin/rm", {"arg": cid, "recursive": "true"})
        except KuboError as exc:
            if "not pinned" not in exc.kubo_message:
                raise

    async def block_rm(self, cids: list[str]) -> None:
        """Remove blocks from the node's store (already gone: not an error)."""
        try:
            await self._call("block/rm", [*(("arg", c) for c in cids), ("force", "true")], idempotent=True)
        except KuboError as exc:
            if "not found" not in exc.kubo_message and "blockstore" not in exc.kubo_message:
                raise

    async def is_pinned(self, cid: str) -> bool:
        try:
            answer = await self._json("pin/ls", {"arg": cid, "type": "recursive"})
        except KuboError as exc:
            if "not pinned" in exc.kubo_message or "is not pinned" in exc.kubo_message:
                return False
            raise
        return cid in answer.get("Keys", {})

    # -- the node, its peers and routing (federation, IPNS) --------------------
    async def node_id(self, retry: bool = True) -> dict:
        """The node's identity: `ID` (peer id) and `Addresses` (multiaddrs with /p2p/).
        `retry=False`: one attempt (a readiness probe)."""
        return await self._json("id", idempotent=retry)

    async def peering_add(self, multiaddr: str) -> None:
        """Keep a connection to the peer at `multiaddr` (it must end in /p2p/<id>):
        how a federated pull reaches a publisher's node named in DNS without any
        shared routing. Kubo redials it whenever it drops, but its first dial
        comes only seconds later (about 12 s in v0.43.1): `swarm_connect` for now."""
        await self._call("swarm/peering/add", {"arg": multiaddr})

    async def swarm_connect(self, multiaddr: str) -> None:
        await self._call("swarm/connect", {"arg": multiaddr}, idempotent=False)

    async def routing_put(self, key: str, value: bytes, allow_offline: bool = True) -> None:
        """Put a routing record (an IPNS record under `/ipns/<name>`) in the
        node's routing system; `allow_offline` keeps it in the node's own
        datastore when no routing is configured."""
        body = Multipart("value-file", "record", value)
        params = {"arg": key, "allow-offline": "true" if allow_offline else "false"}
        await self._call("routing/put", params, content=body.whole(), headers=body.headers, idempotent=False)

    async def name_resolve(self, name: str) -> str:
        """`/ipfs/...` path an IPNS name points at, as Kubo resolves and validates it."""
        answer = await self._json("name/resolve", {"arg": name, "recursive": "true", "nocache": "true"})
        return str(answer.get("Path", ""))

    # -- MFS (the named roots) -------------------------------------------------
    async def files_mkdir(self, path: str) -> None:
        await self._call("files/mkdir", {"arg": path, "parents": "true", "cid-version": "1"})

    async def files_cp(self, source: str, dest: str) -> None:
        await self._call("files/cp", [("arg", source), ("arg", dest), ("parents", "true")], idempotent=False)

    async def files_rm(self, path: str) -> None:
        try:
            await self._call("files/rm", {"arg": path, "recursive": "true", "force": "true"}, idempotent=False)
        except KuboError as exc:
            if "does not exist" not in exc.kubo_message and "file does not exist" not in exc.kubo_message:
                raise

    async def files_stat(self, path: str) -> dict | None:
        try:
            return await self._json("files/stat", {"arg": path})
        except KuboError as exc:
            if "does not exist" in exc.kubo_message:
                return None
            raise


@contextlib.contextmanager
def _observed(command: str) -> Iterator[None]:
    """Time one RPC call (`command` is its path: `add`, `block/get`, never an
    argument) and count its failure; a stream its reader abandons is no failure."""
    started = time.perf_counter()
    try:
        yield
    except (KuboError, httpx.TransportError, httpx.TimeoutException) as exc:
        refused = isinstance(exc, KuboError) and not isinstance(exc, KuboUnavailable)
        KUBO_RPC_ERRORS.labels(command, "error" if refused else "unavailable").inc()
        raise
    finally:
        KUBO_RPC_DURATION.labels(command).observe(time.perf_counter() - started)


def _error(command: str, status: int, body: bytes) -> KuboError:
    try:
        message = json.loads(body).get("Message") or body.decode(errors="replace")
    except ValueError:
        message = body.decode(errors="replace")[:500] or f"HTTP {status}"
    return KuboError(command, message.strip(), status)
