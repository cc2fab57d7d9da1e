"""The embedded backend: IPFS blocks in a directory, no daemon needed.

Blocks and CIDs are byte-identical to what Kubo stores for the same content
with the docs/format.md §3 import parameters, so content moves between this store,
a Kubo node and CAR files without changing its CID.
"""

from __future__ import annotations

import asyncio
import collections
import os
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, Sequence

from anyio import to_thread

from sealedreg.storage.base import (ContentCorrupt, ContentId, ContentMissing, Released, StorageUnavailable,
                                    StoredContent, content_size, parse_content_id)
from sealedreg.storage.cid import CIDError
from sealedreg.storage.blockstore import BlockCorrupt, BlockMissing, BlockStore
from sealedreg.storage.cid import CID
from sealedreg.storage.unixfs import DagError, FileDagBuilder, leaf_spans, walk_blocks

READ_AHEAD = 3
"""Leaves read ahead of the one being sent: ≤ 3 MiB in flight per stream."""


class EmbeddedStore:
    name = "embedded"

    def __init__(self, root: Path, tmp_dir: Path, durable: bool = True, quarantine_dir: Path | None = None) -> None:
        self.blocks = BlockStore(root, tmp_dir)
        self.durable = durable
        self.quarantine_dir = quarantine_dir if quarantine_dir is not None else root.parent / "quarantine"

    def _get(self, cid: CID, verify: bool = True) -> bytes:
        try:
            return self.blocks.get(cid, verify)
        except BlockMissing:
            raise ContentMissing(str(cid)) from None
        except BlockCorrupt as exc:
            raise ContentCorrupt(str(exc)) from None

    # -- writes -------------------------------------------------------------
    async def put_chunks(self, chunks: AsyncIterable[bytes]) -> StoredContent:
        written: list[Path] = []
        names: list[ContentId] = []

        def sink(cid: CID, block: bytes) -> None:
            names.append(str(cid))
            # The builder just hashed it; `sync` below makes it durable, so its write starts now.
            written.append(self.blocks.put(cid, block, hashed=True, writeback=self.durable))

        builder = FileDagBuilder(sink)
        async for chunk in chunks:
            await to_thread.run_sync(builder.add_leaf, chunk)
        root = await to_thread.run_sync(builder.finish)
        if self.durable and written:
            await to_thread.run_sync(self.blocks.sync, written)
        return StoredContent(str(root.cid), root.size, tuple(dict.fromkeys(names)))

    async def put_block(self, cid: ContentId, block: bytes) -> None:
        parsed = parse_content_id(cid)
        try:
            await to_thread.run_sync(self.blocks.put, parsed, block, self.durable)
        except BlockCorrupt as exc:
            raise ContentCorrupt(str(exc)) from None

    # -- reads --------------------------------------------------------------
    async def get_block(self, cid: ContentId) -> bytes:
        return await to_thread.run_sync(self._get, parse_content_id(cid))

    async def exists(self, content_id: ContentId) -> bool:
        try:
            return await to_thread.run_sync(self.blocks.has, parse_content_id(content_id))
        except ContentMissing:
            return False

    async def size(self, content_id: ContentId) -> int:
        return content_size(content_id, await self.get_block(content_id))

    async def read(self, content_id: ContentId, offset: int = 0, length: int | None = None,
                   verify_leaves: bool = True) -> AsyncIterator[bytes]:
        cid = parse_content_id(content_id)
        if length is None:
            length = await self.size(content_id) - offset
        try:
            spans = await to_thread.run_sync(leaf_spans, self._get, cid, offset, length)
        except DagError as exc:
            raise ContentCorrupt(f"{content_id}: {exc}") from None
        got = sum(s.end - s.start for s in spans)
        if got != length:
            raise ContentMissing(f"{content_id}: asked for {length} bytes at {offset}, DAG holds {got}")
        loop = asyncio.get_running_loop()
        ahead: collections.deque[asyncio.Future] = collections.deque()
        next_fetch = 0

        def fill() -> None:
            nonlocal next_fetch
            while next_fetch < len(spans) and len(ahead) < READ_AHEAD:
                ahead.append(loop.run_in_executor(None, self._get, spans[next_fetch].cid, verify_leaves))
                next_fetch += 1

        try:
            for span in spans:
                fill()
                block = await ahead.popleft()
                fill()
                yield span.inline if span.inline is not None else block[span.start:span.end]
        finally:
            for pending in ahead:  # abandoned mid-stream: let the workers finish
                try:
                    await pending
                except Exception:  # noqa: BLE001
                    pass

    async def dag(self, content_id: ContentId) -> AsyncIterator[tuple[ContentId, bytes]]:
        cid = parse_content_id(content_id)
        walker = walk_blocks(self._get, cid)
        sentinel = object()
        while True:
            item = await to_thread.run_sync(next, walker, sentinel)
            if item is sentinel:
                return
            block_cid, block = item  # type: ignore[misc]
            yield str(block_cid), block

    async def keep_root(self, name: str, root: ContentId) -> None:
        return None  # the blocks are stored; the index records the root

    async def retain(self, content_id: ContentId) -> None:
        return None  # blocks here are only removed by garbage collection of unreferenced DAGs

    async def quarantine(self, root: ContentId, blocks: Sequence[ContentId]) -> int:
        def move() -> int:
            return sum(self.blocks.quarantine(parse_content_id(cid), self.quarantine_dir) for cid in blocks)

        return await to_thread.run_sync(move)

    async def release(self, blocks: Sequence[ContentId], roots: Sequence[ContentId],
                      dry_run: bool = False) -> Released:
        def remove() -> Released:
            count = size = 0
            for text in blocks:
                try:
                    cid = CID.parse(text)
                except CIDError:
                    continue  # never a name this store wrote
                n = self.blocks.remove(cid, dry_run)
                if n is not None:
                    count, size = count + 1, size + n
            return Released(count, size)

        return await to_thread.run_sync(remove)

    async def ready(self) -> None:
        def usable() -> None:
            root = self.blocks.root
            if not root.is_dir() or not os.access(root, os.R_OK | os.W_OK | os.X_OK):
                raise StorageUnavailable("the block directory is missing or not readable and writable")
            with os.scandir(root):
                pass

        await to_thread.run_sync(usable)

    async def close(self) -> None:
        return None
