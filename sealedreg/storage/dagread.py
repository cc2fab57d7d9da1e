"""Reading a byte range of a UnixFS file one block at a time, every block
checked against its CID by the getter: how content is read from a source
that cannot be trusted to assemble files itself (a Kubo node fetching from
the network, a remote trustless gateway). Inner nodes are fetched first,
then the covering leaves, READ_AHEAD at a time, in order.

The DAG's shape is not trusted either: an inner node reached twice, or a
DAG deeper than MAX_DEPTH, is refused before any leaf is read (a balanced
file DAG never shares an inner node). That keeps the work linear in the
blocks actually fetched: a crafted DAG whose inner nodes all link the same
child many times would otherwise expand exponentially. (Leaves may repeat:
they cost one span each, bounded by the length read.)
"""

from __future__ import annotations

import asyncio
import collections
from typing import AsyncIterator, Awaitable, Callable

from sealedreg.storage.base import ContentCorrupt, ContentId, ContentMissing, content_size, parse_content_id
from sealedreg.storage.cid import CID, DAG_PB
from sealedreg.storage.unixfs import DagError, LeafSpan, decode_file_node, leaf_spans

READ_AHEAD = 4
"""Leaves requested ahead of the one being sent (≤ 4 MiB in flight)."""

MAX_DEPTH = 8
"""Inner levels a DAG may have: 1024 links per node reach 2^70 bytes in far fewer."""

BlockGetter = Callable[[str], Awaitable[bytes]]


async def read_blocks(get_block: BlockGetter, content_id: ContentId, offset: int = 0,
                      length: int | None = None) -> AsyncIterator[bytes]:
    """Bytes [offset, offset+length) of the file `content_id`, block by block.
    `get_block` must verify each block against its CID."""
    root = parse_content_id(content_id)
    cache: dict[CID, bytes] = {}

    async def node(cid: CID) -> bytes:
        if cid not in cache:
            cache[cid] = await get_block(str(cid))
        return cache[cid]

    await _prefetch_inner(node, root)
    if length is None:
        length = content_size(content_id, cache[root]) - offset
    try:
        spans = leaf_spans(lambda c: cache[c], root, offset, length)
    except DagError as exc:
        raise ContentCorrupt(f"{content_id}: {exc}") from None
    if sum(s.end - s.start for s in spans) != length:
        raise ContentMissing(f"{content_id}: the DAG does not hold {length} bytes at {offset}")

    async def leaf(span: LeafSpan) -> bytes:
        if span.inline is not None:
            return span.inline
        block = cache[span.cid] if span.cid in cache else await get_block(str(span.cid))
        if len(block) < span.end:
            raise ContentCorrupt(f"{span.cid}: a leaf of {len(block)} bytes where its parent promised {span.end}")
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


async def _prefetch_inner(get: Callable[[CID], Awaitable[bytes]], root: CID) -> None:
    """Fetch the root (whatever its codec) and every inner node below it, each
    once: a node reached twice, or deeper than MAX_DEPTH, is refused."""
    await get(root)
    seen = {root}
    stack = [(root, 0)]
    while stack:
        cid, depth = stack.pop()
        if cid.codec != DAG_PB:
            continue
        try:
            node = decode_file_node(await get(cid))
        except DagError as exc:
            raise ContentCorrupt(f"{cid}: {exc}") from None
        for link in node.links:
            if link.cid.codec != DAG_PB:
                continue
            if link.cid in seen:
                raise ContentCorrupt(f"{root}: {link.cid} appears twice in the DAG: not a sealedreg DAG")
            if depth + 1 > MAX_DEPTH:
                raise ContentCorrupt(f"{root}: the DAG is deeper than {MAX_DEPTH} levels: not a sealedreg DAG")
            seen.add(link.cid)
            stack.append((link.cid, depth + 1))
