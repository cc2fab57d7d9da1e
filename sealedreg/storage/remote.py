"""Blocks from other registries' trustless gateways (docs/api.md "Gateway"),
for a registry on the embedded store that pulls a foreign namespace: where
bytes come in from the network without an IPFS node.

Nothing from a gateway is trusted: a block is used (and kept) only once it
hashes to the CID that was asked for; a gateway that answers wrong bytes,
an error or nothing in time is skipped for the next one. Blocks are asked
for by CID only, so a gateway learns which blocks are wanted, never why.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import AsyncIterator, Awaitable, Callable, Sequence

import httpx

from sealedreg.storage.base import (BlobStore, ContentCorrupt, ContentId, ContentMissing, StorageUnavailable,
                                    content_size, parse_content_id)
from sealedreg.storage.dagread import read_blocks

MAX_BLOCK = 2 * 1024 * 1024
"""The largest block IPFS exchanges (bitswap's limit); a longer answer is refused unread."""

MAX_RECORD = 10 * 1024
"""The largest IPNS record the spec allows."""

MAX_PENDING = 64
"""Blocks a FetchingStore holds in memory before its root verified (a root
directory and a small descriptor need a handful)."""

RAW_TYPE = "application/vnd.ipld.raw"
IPNS_RECORD_TYPE = "application/vnd.ipfs.ipns-record"


class GatewayFetcher:
    """HTTP GETs of single blocks (and IPNS records) from trustless gateways."""

    def __init__(self, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False,
                                       limits=httpx.Limits(max_connections=16, max_keepalive_connections=8))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _get(self, url: str, accept: str, limit: int) -> bytes:
        async with self._http.stream("GET", url, headers={"Accept": accept}) as r:
            if r.status_code != 200:
                raise ContentMissing(f"{url}: HTTP {r.status_code}")
            body = bytearray()
            async for chunk in r.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise ContentCorrupt(f"{url}: answer larger than {limit} bytes")
            return bytes(body)

    async def block(self, cid: ContentId, gateways: Sequence[str]) -> bytes:
        """Block `cid` from the first gateway that has it and answers the right bytes."""
        parsed = parse_content_id(cid)
        problems = []
        for gateway in gateways:
            try:
                block = await self._get(f"{gateway}/ipfs/{cid}?format=raw", RAW_TYPE, MAX_BLOCK)
            except (httpx.HTTPError, httpx.InvalidURL, ContentMissing, ContentCorrupt) as exc:
                problems.append(f"{gateway}: {_reason(exc)}")
                continue
            if parsed.verify(block):
                return block
            problems.append(f"{gateway}: answered bytes that do not match {cid}")
        if not gateways:
            raise ContentMissing(f"{cid}: no gateway to fetch it from")
        if all("HTTP 404" in p for p in problems):
            raise ContentMissing(f"{cid} is on none of the gateways: " + "; ".join(problems))
        raise StorageUnavailable(f"{cid} could not be fetched: " + "; ".join(problems))

    async def ipns_record(self, name: str, gateways: Sequence[str]) -> bytes:
        """The raw IPNS record of `name` from the first gateway that has one; the
        caller verifies it (`publish.ipns.parse_record`)."""
        problems = []
        for gateway in gateways:
            try:
                return await self._get(f"{gateway}/ipns/{name}?format=ipns-record", IPNS_RECORD_TYPE, MAX_RECORD)
            except (httpx.HTTPError, httpx.InvalidURL, ContentMissing, ContentCorrupt) as exc:
                problems.append(f"{gateway}: {_reason(exc)}")
        raise ContentMissing(f"no IPNS record for {name}: " + ("; ".join(problems) or "no gateway"))


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.InvalidURL):
        return f"not a usable URL: {exc}"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.HTTPError):
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return str(exc)


class FetchingStore:
    """The read side of a BlobStore over a local store and a remote source:
    a block missing locally is fetched (verified by `fetch`). Once `keep` is
    set — by the caller, when the root these blocks hang from has verified —
    fetched blocks are checked again and kept locally, so the next read needs
    no network; before that (while a tree's descriptor is being checked)
    they are kept only in memory, so a refused tree leaves nothing behind.
    `verified()` sets it and keeps what was held."""

    name = "fetching"

    def __init__(self, local: BlobStore, fetch: Callable[[str], Awaitable[bytes]], keep: bool = False) -> None:
        self.local = local
        self._fetch = fetch
        self.keep = keep
        self._pending: dict[str, bytes] = {}

    async def verified(self) -> None:
        """The root verified: keep what was fetched so far, and from now on."""
        self.keep = True
        pending, self._pending = self._pending, {}
        for cid, block in pending.items():
            await self.local.put_block(cid, block)

    async def get_block(self, cid: ContentId) -> bytes:
        if cid in self._pending:
            block = self._pending.pop(cid) if self.keep else self._pending[cid]
        else:
            try:
                return await self.local.get_block(cid)
            except ContentMissing:
                pass
            block = await self._fetch(cid)
        if self.keep:
            await self.local.put_block(cid, block)  # verifies once more before keeping it
        elif len(self._pending) < MAX_PENDING:
            self._pending[cid] = block
        return block

    async def size(self, content_id: ContentId) -> int:
        return content_size(content_id, await self.get_block(content_id))

    async def read(self, content_id: ContentId, offset: int = 0, length: int | None = None,
                   verify_leaves: bool = True) -> AsyncIterator[bytes]:
        """Every block is checked whatever `verify_leaves` says: remote bytes are never trusted."""
        async with aclosing(read_blocks(self.get_block, content_id, offset, length)) as pieces:
            async for piece in pieces:
                yield piece
