"""The Kubo backend: the storage seam on a real IPFS node, through its RPC API
(`sealedreg.storage.kubo_rpc`). Content is added (pinned) and read back;
the CIDs are the embedded backend's, by construction (docs/format.md §7).
"""

from __future__ import annotations

from contextlib import aclosing
from typing import AsyncIterable, AsyncIterator, Sequence

from sealedreg.storage.base import (ContentCorrupt, ContentId, ContentMissing, Released, StoredContent,
                                    content_size, parse_content_id)
from sealedreg.storage.car import CarError, read_car_async
from sealedreg.storage.cid import RAW
from sealedreg.storage.dagread import read_blocks
from sealedreg.storage.kubo_rpc import KuboClient, KuboError, KuboUnavailable
from sealedreg.storage.unixfs import CHUNK_SIZE

MFS_ROOT = "/sealedreg"
"""Where the named roots (the namespace trees) live in Kubo's MFS: /sealedreg/<name>."""


def _missing(exc: KuboError) -> bool:
    text = exc.kubo_message.lower()
    return "not found" in text or "no link named" in text or "block was not found" in text


class KuboStore:
    """The BlobStore seam on a Kubo node."""

    name = "kubo"

    def __init__(self, client: KuboClient) -> None:
        self.kubo = client

    async def put_chunks(self, chunks: AsyncIterable[bytes]) -> StoredContent:
        root, size = await self.kubo.add(chunks, pin=True)
        blocks = tuple([root] + await self.kubo.refs(root))
        return StoredContent(root, size, tuple(dict.fromkeys(blocks)))

    async def get_block(self, cid: ContentId) -> bytes:
        parsed = parse_content_id(cid)
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
        parsed = parse_content_id(cid)
        if not parsed.verify(block):
            raise ContentCorrupt(f"block does not match {cid}")
        got = await self.kubo.block_put(block, "raw" if parsed.codec == RAW else "dag-pb")
        if got != cid:
            raise ContentCorrupt(f"kubo stored {cid} as {got}")

    async def exists(self, content_id: ContentId) -> bool:
        return await self.kubo.is_pinned(content_id)

    async def size(self, content_id: ContentId) -> int:
        return content_size(content_id, await self.get_block(content_id))

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
        async with aclosing(read_blocks(self.get_block, content_id, offset, length)) as pieces:
            async for piece in pieces:
                yield piece

    async def dag(self, content_id: ContentId) -> AsyncIterator[tuple[ContentId, bytes]]:
        try:
            async for cid, block in read_car_async(self.kubo.dag_export(content_id)):
                yield str(cid), block
        except CarError as exc:
            raise ContentCorrupt(f"{content_id}: {exc}") from None

    async def keep_root(self, name: str, root: ContentId) -> None:
        """Pin the new root and swap it into MFS at /sealedreg/<name>. The old
        root stays pinned: a published tree must stay fetchable until it
        expires, and garbage collection unpins it then (`release`)."""
        path = f"{MFS_ROOT}/{name}"
        old = await self.kubo.files_stat(path)
        await self.kubo.pin_add(root)
        await self.kubo.files_mkdir(MFS_ROOT)
        if old is not None:
            await self.kubo.files_rm(path)
        await self.kubo.files_cp(f"/ipfs/{root}", path)

    async def retain(self, content_id: ContentId) -> None:
        await self.kubo.pin_add(content_id)

    async def quarantine(self, root: ContentId, blocks: Sequence[ContentId]) -> int:
        """Kubo answers a block from its store without checking it, and an add
        of the same content keeps the damaged copy: unpin the root and remove
        the blocks that fail their check, so the next add writes them again."""
        damaged = []
        for cid in blocks:
            try:
                await self.get_block(cid)
            except (ContentCorrupt, ContentMissing):
                damaged.append(cid)
        if damaged:
            await self.kubo.pin_rm(root)
            await self.kubo.block_rm(damaged)
        return len(damaged)

    async def release(self, blocks: Sequence[ContentId], roots: Sequence[ContentId],
                      dry_run: bool = False) -> Released:
        """Unpin the roots (only ones this registry recorded: the caller's list comes
        from its index); Kubo's own GC (`ipfs repo gc`, `--enable-gc`) frees the disk.
        Bytes are each root's cumulative size as the node reports it."""
        count = size = 0
        for root in roots:
            if not await self.kubo.is_pinned(root):
                continue
            stat = await self.kubo.files_stat(f"/ipfs/{root}")
            if not dry_run:
                await self.kubo.pin_rm(root)
            count += 1
            size += int((stat or {}).get("CumulativeSize", 0))
        return Released(count, size)

    async def ready(self) -> None:
        await self.kubo.node_id(retry=False)

    async def close(self) -> None:
        await self.kubo.aclose()
