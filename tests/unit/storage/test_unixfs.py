"""The DAG builder against recorded Kubo vectors, and its structure."""

import hashlib
import json
from pathlib import Path

import pytest

from sealedreg.storage.cid import CID, DAG_PB, RAW
from sealedreg.storage.unixfs import (
    FileDagBuilder,
    build_file,
    chunked,
    decode_file_node,
    encode_file_node,
    file_cid,
    leaf_spans,
    walk_blocks,
)

VECTORS = Path(__file__).parents[2] / "vectors" / "unixfs.json"


def stream(seed: str, size: int) -> bytes:
    """sha256 counter stream: the deterministic content the vectors describe."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{i}".encode()).digest()
        i += 1
    return bytes(out[:size])


def test_single_leaf_is_the_root():
    assert file_cid([b"abc"]) == str(CID.of(b"abc", RAW))
    assert file_cid([]) == str(CID.of(b"", RAW))


def test_structure_and_reading():
    data = stream("structure", 10_000)
    blocks = {}
    root = build_file(chunked(data, 100), lambda c, b: blocks.__setitem__(c, b), max_links=4)
    assert root.size == len(data)
    assert root.tsize == sum(len(b) for b in blocks.values()) or len(set(chunked(data, 100))) < 100
    top = decode_file_node(blocks[root.cid])
    assert sum(top.blocksizes) == len(data) and len(top.links) <= 4
    for offset, length in [(0, 10_000), (0, 1), (99, 2), (150, 1000), (9_999, 1), (3_333, 4_444)]:
        spans = leaf_spans(lambda c: blocks[c], root.cid, offset, length)
        assert b"".join(blocks[s.cid][s.start:s.end] for s in spans) == data[offset:offset + length]
    assert {c for c, _ in walk_blocks(lambda c: blocks[c], root.cid)} == set(blocks)


@pytest.mark.parametrize("leaves,width,depth", [(4, 4, 1), (5, 4, 2), (16, 4, 2), (17, 4, 3), (2, 2, 1)])
def test_balanced_shape(leaves, width, depth):
    blocks = {}
    root = build_file([bytes([i]) * 10 for i in range(leaves)], lambda c, b: blocks.__setitem__(c, b), width)

    def height(cid):
        if cid.codec == RAW:
            return 0
        return 1 + max(height(link.cid) for link in decode_file_node(blocks[cid]).links)

    assert height(root.cid) == depth
    # every node but those on the rightmost path is full
    node = decode_file_node(blocks[root.cid])
    for link in node.links[:-1]:
        if link.cid.codec == DAG_PB:
            assert len(decode_file_node(blocks[link.cid]).links) == width


def test_encode_decode_round_trip():
    links_data = [b"a" * 3, b"b" * 5]
    from sealedreg.storage.unixfs import Link

    links = [Link(CID.of(d, RAW), len(d)) for d in links_data]
    node = decode_file_node(encode_file_node(links, [3, 5]))
    assert [l.cid for l in node.links] == [l.cid for l in links] and node.blocksizes == [3, 5]
    assert node.filesize == 8


@pytest.mark.parametrize("bad", [b"", b"\x0a\x02\x08\x01", b"\xff\xff", b"\x12\x03\x0a\x01\x00"])
def test_decode_rejects_garbage(bad):
    from sealedreg.storage.unixfs import DagError

    with pytest.raises(DagError):
        decode_file_node(bad)


def test_builder_needs_width():
    with pytest.raises(ValueError):
        FileDagBuilder(lambda c, b: None, max_links=1)


def test_recorded_kubo_vectors():
    """CIDs a real Kubo gave (see tests/integration/test_cid_kubo.py) still come out."""
    cases = json.loads(VECTORS.read_text())["cases"]
    assert cases
    for case in cases:
        data = stream(case["seed"], case["size"])
        assert file_cid(chunked(data, case["chunk_size"]), case["max_links"]) == case["cid"], case
