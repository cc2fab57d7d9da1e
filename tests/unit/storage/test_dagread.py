"""read_blocks: byte ranges of a UnixFS file read one block at a time from an
untrusted getter, over DAGs of several levels; corrupt structure refused."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import pytest

from sealedreg.storage import dagread
from sealedreg.storage.base import ContentCorrupt, ContentMissing
from sealedreg.storage.cid import CID, DAG_PB, RAW
from sealedreg.storage.dagread import MAX_DEPTH, READ_AHEAD, read_blocks
from sealedreg.storage.unixfs import Link, build_file, chunked, encode_file_node

DATA = bytes((i * 7) % 251 for i in range(5000))


def run(coro):
    return asyncio.run(coro)


class Blocks:
    """A verifying getter over a dict, counting requests and concurrency."""

    def __init__(self) -> None:
        self.blocks: dict[str, bytes] = {}
        self.asked: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.override: dict[str, bytes] = {}  # served without verification (a lying source)

    def sink(self, cid: CID, block: bytes) -> None:
        self.blocks[str(cid)] = block

    async def get(self, cid: str) -> bytes:
        self.asked.append(cid)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)  # let other leaf requests start
            if cid in self.override:
                return self.override[cid]
            if cid not in self.blocks:
                raise ContentMissing(cid)
            block = self.blocks[cid]
            if not CID.parse(cid).verify(block):
                raise ContentCorrupt(cid)
            return block
        finally:
            self.in_flight -= 1


def dag(data: bytes = DATA, chunk: int = 100, max_links: int = 3) -> tuple[Blocks, str]:
    blocks = Blocks()
    root = build_file(chunked(data, chunk), blocks.sink, max_links=max_links)
    return blocks, str(root.cid)


async def _read(get, cid, offset=0, length=None) -> bytes:
    return b"".join([piece async for piece in read_blocks(get, cid, offset, length)])


def test_the_dag_has_several_levels():
    blocks, root = dag()
    inner = [c for c in blocks.blocks if CID.parse(c).codec == DAG_PB]
    assert len(inner) > 10 and CID.parse(root).codec == DAG_PB
    assert len(blocks.blocks) - len(inner) == 50


def test_whole_file():
    blocks, root = dag()
    assert run(_read(blocks.get, root)) == DATA


@pytest.mark.parametrize("offset, length", [
    (0, 1), (0, 100), (0, 101), (99, 2), (100, 100), (150, 1000), (4999, 1), (4900, 100), (1234, 2345),
    (0, 5000), (2500, None), (5000, 0), (5000, None), (37, 0),
])
def test_ranges(offset, length):
    blocks, root = dag()
    want = DATA[offset:] if length is None else DATA[offset:offset + length]
    assert run(_read(blocks.get, root, offset, length)) == want


def test_a_range_fetches_only_the_leaves_it_covers():
    blocks, root = dag()
    run(_read(blocks.get, root, 250, 120))  # bytes 250..369: leaves 2 and 3
    leaves = [c for c in blocks.asked if CID.parse(c).codec == RAW]
    assert leaves == [str(CID.of(DATA[200:300], RAW)), str(CID.of(DATA[300:400], RAW))]


def test_every_block_is_asked_for_once():
    blocks, root = dag()
    run(_read(blocks.get, root))
    assert len(blocks.asked) == len(set(blocks.asked)) == len(blocks.blocks)


def test_repeated_leaves_are_each_fetched_where_they_occur():
    data = b"A" * 300 + b"B" * 100 + b"A" * 100
    blocks, root = dag(data)
    assert run(_read(blocks.get, root)) == data


def test_a_single_raw_leaf_file():
    blocks, root = dag(b"tiny", chunk=100)
    assert CID.parse(root).codec == RAW
    assert run(_read(blocks.get, root)) == b"tiny"
    assert run(_read(blocks.get, root, 1, 2)) == b"in"


def test_leaves_in_flight_are_bounded():
    blocks, root = dag()
    run(_read(blocks.get, root))
    assert 1 < blocks.max_in_flight <= READ_AHEAD


def test_a_corrupt_inner_node_is_content_corrupt():
    blocks, root = dag()
    inner = next(c for c in blocks.blocks if CID.parse(c).codec == DAG_PB and c != root)
    blocks.override[inner] = b"\xff\xff\xff not protobuf"
    with pytest.raises(ContentCorrupt, match=inner):
        run(_read(blocks.get, root))


def test_a_corrupt_root_is_content_corrupt():
    blocks, root = dag()
    blocks.override[root] = b"\x0a\x05junk!"
    with pytest.raises(ContentCorrupt):
        run(_read(blocks.get, root))


def lying_dag() -> tuple[Blocks, str]:
    """Two 10-byte leaves under a node whose blocksizes say 10 and 20 (30 bytes)."""
    leaves = [b"a" * 10, b"b" * 10]
    blocks = Blocks()
    for leaf in leaves:
        blocks.sink(CID.of(leaf, RAW), leaf)
    node = encode_file_node([Link(CID.of(leaf, RAW), len(leaf)) for leaf in leaves], [10, 20])
    root = CID.of(node, DAG_PB)
    blocks.sink(root, node)
    return blocks, str(root)


def test_a_dag_whose_sizes_lie_never_yields_more_than_its_leaves_hold():
    blocks, root = lying_dag()
    got = b""
    try:
        got = run(_read(blocks.get, root))
    except (ContentMissing, ContentCorrupt):
        pass
    assert got in (b"", b"a" * 10 + b"b" * 10)


def test_an_inner_node_whose_sizes_lie_is_refused():
    blocks, root = lying_dag()
    with pytest.raises(ContentCorrupt):
        run(_read(blocks.get, root))


def test_a_missing_leaf_is_missing():
    blocks, root = dag()
    leaf = str(CID.of(DATA[4000:4100], RAW))
    del blocks.blocks[leaf]
    with pytest.raises(ContentMissing):
        run(_read(blocks.get, root))
    assert run(_read(blocks.get, root, 0, 4000)) == DATA[:4000]  # before it: fine


def test_a_missing_inner_node_fails_before_any_byte():
    blocks, root = dag()
    inner = next(c for c in blocks.blocks if CID.parse(c).codec == DAG_PB and c != root)
    del blocks.blocks[inner]
    got = []

    async def go():
        async for piece in read_blocks(blocks.get, root):
            got.append(piece)

    with pytest.raises(ContentMissing):
        run(go())
    assert got == []


def test_a_range_past_the_end_is_missing():
    blocks, root = dag()
    with pytest.raises(ContentMissing, match="does not hold"):
        run(_read(blocks.get, root, 4990, 20))
    with pytest.raises(ContentMissing):
        run(_read(blocks.get, root, 6000))


def test_a_bad_content_id_is_missing():
    blocks, _ = dag()
    with pytest.raises(ContentMissing):
        run(_read(blocks.get, "not-a-cid"))


def test_stopping_early_cancels_the_reads_ahead():
    blocks, root = dag()

    async def go() -> bytes:
        async with aclosing(read_blocks(blocks.get, root)) as pieces:
            async for piece in pieces:
                return piece
        return b""

    assert run(go()) == DATA[:100]
    assert blocks.in_flight == 0
    leaves = [c for c in blocks.asked if CID.parse(c).codec == RAW]
    assert len(leaves) <= READ_AHEAD + 1


def test_read_ahead_constant():
    assert dagread.READ_AHEAD == READ_AHEAD >= 1


def _node(links: list[tuple[str, int]]) -> tuple[str, bytes]:
    """A dag-pb file node linking each (cid, size) in turn."""
    block = encode_file_node([Link(CID.parse(c), size, "") for c, size in links], [size for _, size in links])
    return str(CID.of(block, DAG_PB)), block


def test_an_inner_node_reached_twice_is_refused_before_any_leaf():
    # each level links the level below k times: k^depth spans from a handful of blocks
    blocks = Blocks()
    leaf = b"x" * 10
    child, size = str(CID.of(leaf, RAW)), len(leaf)
    blocks.blocks[child] = leaf
    for _ in range(4):
        child, block = _node([(child, size)] * 50)
        size *= 50
        blocks.blocks[child] = block
    with pytest.raises(ContentCorrupt, match="twice"):
        run(_read(blocks.get, child))


def test_a_dag_deeper_than_the_bound_is_refused():
    blocks = Blocks()
    leaf = b"y" * 10
    child = str(CID.of(leaf, RAW))
    blocks.blocks[child] = leaf
    for _ in range(MAX_DEPTH + 2):
        child, block = _node([(child, 10)])
        blocks.blocks[child] = block
    with pytest.raises(ContentCorrupt, match="deeper"):
        run(_read(blocks.get, child))
