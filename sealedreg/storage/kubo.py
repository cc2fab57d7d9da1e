"""An async client for Kubo's RPC API (`/api/v0/…`), and the Kubo backend.

Everything streams: `add` sends a multipart body generated chunk by chunk
(never the whole blob in memory), `cat` and `dag/export` are read as they
arrive. Every call has a timeout; idempotent reads are retried with
backoff; a Kubo that cannot be reached raises `KuboUnavailable` (the API
answers 503), a Kubo that refuses raises `KuboError` with Kubo's message.

Import parameters are DESIGN §5's, passed on every `add`, so the CIDs are
the embedded backend's whatever the node's own config says.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
from dataclasses import dataclass
from typing import Any, AsyncIterable, AsyncIterator

import httpx

from sealedreg.storage.base import (
    ContentCorrupt,
    ContentId,
    ContentMissing,
    StorageError,
    StorageUnavailable,
    StoredContent,
)
from sealedreg.storage.car import CarError, read_car_async
from sealedreg.storage.cid import CID, DAG_PB, RAW, CIDError
from sealedreg.storage.unixfs import CHUNK_SIZE, MAX_LINKS, DagError, LeafSpan, decode_file_node, file_size, leaf_spans

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


READ_AHEAD = 4
"""Leaves requested from Kubo ahead of the one being sent (≤ 4 MiB in flight)."""

MFS_ROOT = "/sealedreg"
"""Where the namespace trees live in Kubo's MFS: /sealedreg/<namespace>."""


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
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- plumbing -------------------------------------------------------------
    async def _call(self, command: str, params: Any = None, *, content: Any = None,
                    headers: dict[str, str] | None = None, idempotent: bool = True) -> httpx.Response:
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
            async with self._http.stream("POST", command, params=params) as r:
                if r.status_code != 200:
                    raise _error(command, r.status_code, await r.aread())
                async for chunk in r.aiter_bytes(piece):
                    yield chunk
                # Kubo reports a failure after the headers only in an HTTP trailer,
                # which httpx does not expose: callers check the length they got.
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise KuboUnavailable(command, f"{type(exc).__name__}: {exc or 'no answer'}") from None

    # -- node -----------------------------------------------------------------
    async def id(self) -> dict:
        return await self._json("id")

    async def version(self) -> str:
        return (await self._json("version"))["Version"]

    # -- files (UnixFS) -------------------------------------------------------
    async def add(self, chunks: AsyncIterable[bytes], *, pin: bool = True) -> tuple[str, int]:
        """Add one file whose bytes are `chunks`, streamed; return (root CID, bytes)."""
        boundary = secrets.token_hex(16)
        total = 0

        async def body() -> AsyncIterator[bytes]:
            nonlocal total
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"blob\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n").encode()
            async for chunk in chunks:
                total += len(chunk)
                yield chunk
            yield f"\r\n--{boundary}--\r\n".encode()

        r = await self._call("add", {**ADD_PARAMS, "pin": "true" if pin else "false"}, content=body(),
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                             idempotent=False)
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
        headers = {"Range": f"bytes={offset}-{offset + length - 1}"} if length else {}
        try:
            async with self._http.stream("GET", f"{gateway}/ipfs/{cid}", headers=headers) as r:
                if r.status_code not in (200, 206):
                    raise _error("gateway", r.status_code, await r.aread())
                if r.status_code == 200 and offset:
                    raise KuboError("gateway", "the gateway ignored the byte range")
                async for chunk in r.aiter_bytes(piece):
                    yield chunk
        except (httpx.TransportError, httpx.TimeoutException) as exc:
            raise KuboUnavailable("gateway", f"{type(exc).__name__}: {exc or 'no answer'}") from None

    # -- blocks and DAGs ------------------------------------------------------
    async def block_get(self, cid: str) -> bytes:
        return (await self._call("block/get", {"arg": cid})).content

    async def block_put(self, block: bytes, codec: str) -> str:
        boundary = secrets.token_hex(16)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"block\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + block + f"\r\n--{boundary}--\r\n".encode()
        answer = await self._json("block/put", {"cid-codec": codec, "mhtype": "sha2-256", "pin": "false"},
                                  content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
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

    async def dag_import(self, car: AsyncIterable[bytes], pin_roots: bool = True) -> list[str]:
        boundary = secrets.token_hex(16)

        async def body() -> AsyncIterator[bytes]:
            yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"import.car\"\r\n"
                   "Content-Type: application/octet-stream\r\n\r\n").encode()
            async for piece in car:
                yield piece
            yield f"\r\n--{boundary}--\r\n".encode()

        r = await self._call("dag/import", {"pin-roots": "true" if pin_roots else "false"}, content=body(),
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                             idempotent=False)
        roots = []
        for line in r.text.splitlines():
            if line.strip():
                entry = json.loads(line)
                if "Root" in entry:
                    if entry["Root"].get("PinErrorMsg"):
                        raise KuboError("dag/import", entry["Root"]["PinErrorMsg"])
                    roots.append(entry["Root"]["Cid"]["/"])
        return roots

    # -- pins -----------------------------------------------------------------
    async def pin_add(self, cid: str) -> None:
        await self._call("pin/add", {"arg": cid, "recursive": "true"}, idempotent=True)

    async def pin_rm(self, cid: str) -> None:
        try:
            await self._call("pin/rm", {"arg": cid, "recursive": "true"})
        except KuboError as exc:
            if "not pinned" not in exc.kubo_message:
                raise

    async def is_pinned(self, cid: str) -> bool:
        try:
            answer = await self._json("pin/ls", {"arg": cid, "type": "recursive"})
        except KuboError as exc:
            if "not pinned" in exc.kubo_message or "is not pinned" in exc.kubo_message:
                return False
            raise
        return cid in answer.get("Keys", {})

    # -- MFS (the namespace trees) ---------------------------------------------
    async def files_mkdir(self, path: str) -> None:
        await self._call("files/mkdir", {"arg": path, "parents": "true", "cid-version": "1"})

    async def files_cp(self, source: str, dest: str) -> None:
        await self._call("files/cp", [("arg", source), ("arg", dest), ("parents", "true")], idempotent=False)

    async def files_write(self, path: str, data: bytes) -> None:
        boundary = secrets.token_hex(16)
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; filename=\"f\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
        await self._call("files/write", {"arg": path, "create": "true", "truncate": "true", "parents": "true",
                                         "cid-version": "1", "raw-leaves": "true"},
                         content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                         idempotent=False)

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

    async def files_read(self, path: str) -> bytes:
        return (await self._call("files/read", {"arg": path})).content

    async def files_ls(self, path: str) -> list[str]:
        answer = await self._json("files/ls", {"arg": path})
        return [e["Name"] for e in answer.get("Entries") or []]

    # -- network and naming -----------------------------------------------------
    async def swarm_connect(self, addr: str) -> None:
        await self._call("swarm/connect", {"arg": addr})

    async def findprovs(self, cid: str, limit: int = 5) -> list[str]:
        r = await self._call("routing/findprovs", {"arg": cid, "num-providers": str(limit)})
        peers = []
        for line in r.text.splitlines():
            if line.strip():
                for resp in json.loads(line).get("Responses") or []:
                    peers.append(resp["ID"])
        return peers

    async def key_gen(self, name: str) -> str:
        return (await self._json("key/gen", {"arg": name, "type": "ed25519"}, idempotent=False))["Id"]

    async def name_publish(self, cid: str, key: str = "self", lifetime: str = "24h") -> str:
        answer = await self._json("name/publish", {"arg": f"/ipfs/{cid}", "key": key, "lifetime": lifetime,
                                                   "allow-offline": "true"}, idempotent=False)
        return answer["Name"]

    async def name_resolve(self, name: str) -> str:
        return (await self._json("name/resolve", {"arg": name}))["Path"]

    async def stats_bw(self) -> dict:
        return await self._json("stats/bw")

    async def bitswap_stat(self) -> dict:
        return await self._json("bitswap/stat")


def _error(command: str, status: int, body: bytes) -> KuboError:
    try:
        message = json.loads(body).get("Message") or body.decode(errors="replace")
    except ValueError:
        message = body.decode(errors="replace")[:500] or f"HTTP {status}"
    return KuboError(command, message.strip(), status)


def _missing(exc: KuboError) -> bool:
    text = exc.kubo_message.lower()
    return "not found" in text or "no link named" in text or "block was not found" in text


class KuboStore:
    """The BlobStore seam on a Kubo node: content is added (pinned) and read back
    through the RPC API; the CIDs are the embedded backend's, by construction."""

    name = "kubo"

    def __init__(self, client: KuboClient) -> None:
        self.kubo = client

    async def put_chunks(self, chunks: AsyncIterable[bytes]) -> StoredContent:
        root, size = await self.kubo.add(chunks, pin=True)
        blocks = tuple([root] + await self.kubo.refs(root))
        return StoredContent(root, size, tuple(dict.fromkeys(blocks)))

    async def get_block(self, cid: ContentId) -> bytes:
        parsed = _parse(cid)
        try:
            block = await self.kubo.block_get(cid)
        except KuboError as exc:
            if isinstance(exc, KuboUnavailable) or not _missing(exc):
                raise
            raise ContentMissing(cid) from None
        if not parsed.verify(block):
            raise ContentCorrupt(f"kubo returned a block that does not match {cid}")
        return block

    async def put_block(self, cid: ContentId, block: bytes) -> None:
        parsed = _parse(cid)
        if not parsed.verify(block):
            raise ContentCorrupt(f"block does not match {cid}")
        got = await self.kubo.block_put(block, "raw" if parsed.codec == RAW else "dag-pb")
        if got != cid:
            raise ContentCorrupt(f"kubo stored {cid} as {got}")

    async def exists(self, content_id: ContentId) -> bool:
        return await self.kubo.is_pinned(content_id)

    async def size(self, content_id: ContentId) -> int:
        cid = _parse(content_id)
        block = await self.get_block(content_id)
        try:
            return file_size(block, cid)
        except DagError as exc:
            raise ContentCorrupt(f"{content_id}: {exc}") from None

    async def read(self, content_id: ContentId, offset: int = 0, length: int | None = None,
                   verify_leaves: bool = True) -> AsyncIterator[bytes]:
        """A whole read streams the file (gateway or `cat`) in leaf-sized pieces (the caller checks
        the content end to end against its digest); a ranged read walks the
        DAG and fetches the covering leaves as blocks, each checked against
        its CID, READ_AHEAD at a time."""
        if not verify_leaves:
            if length is None:
                length = await self.size(content_id) - offset
            got = 0
            async for piece in self.kubo.read_file(content_id, offset, length, CHUNK_SIZE):
                got += len(piece)
                yield piece
            if got != length:
                raise ContentMissing(f"{content_id}: kubo returned {got} of {length} bytes")
            return
        root = _parse(content_id)
        cache: dict[CID, bytes] = {}

        async def node(cid: CID) -> bytes:
            if cid not in cache:
                cache[cid] = await self.get_block(str(cid))
            return cache[cid]

        await _prefetch_inner(node, root)
        if length is None:
            length = await self.size(content_id) - offset
        try:
            spans = leaf_spans(lambda c: cache[c], root, offset, length)
        except DagError as exc:
            raise ContentCorrupt(f"{content_id}: {exc}") from None
        if sum(s.end - s.start for s in spans) != length:
            raise ContentMissing(f"{content_id}: the DAG does not hold {length} bytes at {offset}")

        async def leaf(span: LeafSpan) -> bytes:
            if span.inline is not None:
                return span.inline
            block = cache[span.cid] if span.cid in cache else await self.get_block(str(span.cid))
            return block if (span.start, span.end) == (0, len(block)) else block[span.start:span.end]

        ahead: collections.deque[asyncio.Task] = collections.deque()
        queued = 0
        try:
            for _ in spans:
                while queued < len(spans) and len(ahead) < READ_AHEAD:
                    ahead.append(asyncio.ensure_future(leaf(spans[queued])))
                    queued += 1
                yield await ahead.popleft()
        finally:
            for task in ahead:
                task.cancel()
            if ahead:
                await asyncio.gather(*ahead, return_exceptions=True)

    async def dag(self, content_id: ContentId) -> AsyncIterator[tuple[ContentId, bytes]]:
        try:
            async for cid, block in read_car_async(self.kubo.dag_export(content_id)):
                yield str(cid), block
        except CarError as exc:
            raise ContentCorrupt(f"{content_id}: {exc}") from None

    async def publish_tree(self, namespace: str, root: ContentId) -> None:
        """Pin the new tree, swap it into MFS at /sealedreg/<namespace>, unpin the old one."""
        path = f"{MFS_ROOT}/{namespace}"
        old = await self.kubo.files_stat(path)
        await self.kubo.pin_add(root)
        await self.kubo.files_mkdir(MFS_ROOT)
        if old is not None:
            await self.kubo.files_rm(path)
        await self.kubo.files_cp(f"/ipfs/{root}", path)
        if old is not None and old.get("Hash") not in (None, root):
            await self.kubo.pin_rm(old["Hash"])

    async def tree_root(self, namespace: str) -> str | None:
        stat = await self.kubo.files_stat(f"{MFS_ROOT}/{namespace}")
        return stat.get("Hash") if stat else None

    async def retain(self, content_id: ContentId) -> None:
        await self.kubo.pin_add(content_id)

    async def close(self) -> None:
        await self.kubo.aclose()


async def _prefetch_inner(get, root: CID) -> None:
    """Fetch the root (whatever its codec) and every inner node below it."""
    await get(root)
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid.codec != DAG_PB:
            continue
        try:
            node = decode_file_node(await get(cid))
        except DagError as exc:
            raise ContentCorrupt(f"{cid}: {exc}") from None
        stack.extend(link.cid for link in node.links if link.cid.codec == DAG_PB)


def _parse(cid: ContentId) -> CID:
    try:
        return CID.parse(cid)
    except CIDError as exc:
        raise ContentMissing(f"{cid!r}: {exc}") from None


