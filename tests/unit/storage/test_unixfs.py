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
    leaf_spans,
    walk_blocks,
)
from tests.helpers.unixfs_vectors import file_cid

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


# -- directory trees ---------------------------------------------------------------
from sealedreg.storage.unixfs import PathEntry, build_directories, decode_directory, file_entry  # noqa: E402


def test_empty_tree_is_the_empty_directory():
    assert str(build_directories([], lambda c, b: None)) == \
        "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


def test_directories_nest_by_path_and_do_not_depend_on_order():
    blocks = {}

    def sink(cid, block):
        blocks[cid] = block

    entries = [file_entry("b/y", b"why", sink), file_entry("a", b"ay", sink), file_entry("b/x", b"ex", sink)]
    root = build_directories(entries, sink)
    assert root == build_directories(list(reversed(entries)), lambda c, b: None)
    top = decode_directory(blocks[root])
    assert [link.name for link in top] == ["a", "b"]
    assert sorted(link.name for link in decode_directory(blocks[top[1].cid])) == ["x", "y"]


@pytest.mark.parametrize("paths", [["a/../b"], ["a//b"], ["a", "a/b"], ["a/b", "a"], ["x", "x"], [""], ["./a"]])
def test_bad_paths(paths):
    entries = [PathEntry(p, CID.of(b"x", DAG_PB), 1) for p in paths]
    with pytest.raises(ValueError):
        build_directories(entries, lambda c, b: None)


# -- failure vectors --------------------------------------------------------------
from sealedreg.storage.unixfs import DagError as _DagError, decode_file_node as _decode_file_node  # noqa: E402

FAILURES = json.loads((Path(__file__).parents[2] / "vectors" / "unixfs-failures.json").read_text())["cases"]


@pytest.mark.parametrize("case", FAILURES, ids=[c["name"] for c in FAILURES])
def test_failure_vectors_are_refused(case):
    decode = _decode_file_node if case["decoder"] == "file" else decode_directory
    with pytest.raises(_DagError, match=case["error"]):
        decode(bytes.fromhex(case["block_hex"]))


# -- directories must be canonical: a duplicate name could be checked once and followed another time
def _raw_directory(names: list[str]) -> bytes:
    """A directory node with links in exactly the order given (encode_directory would sort them)."""
    from sealedreg.storage.unixfs import UNIXFS_DIRECTORY, _bytes_field, _uint_field
    target = CID.of(b"x", RAW)
    links = [_bytes_field(1, target.to_bytes()) + _bytes_field(2, n.encode("utf-8", "surrogateescape"))
             + _uint_field(3, 1) for n in names]
    out = b"".join(_bytes_field(2, link) for link in links)
    return out + _bytes_field(1, _uint_field(1, UNIXFS_DIRECTORY))


@pytest.mark.parametrize("names", [["repos", "repos"], ["repos", "blobs"], ["", "a"], [".", "a"], ["..", "a"],
                                   ["a/b"], ["a\udcff"]])
def test_a_directory_that_is_not_canonical_is_refused(names):
    with pytest.raises(_DagError):
        decode_directory(_raw_directory(names))


def test_a_canonical_directory_decodes():
    assert [link.name for link in decode_directory(_raw_directory(["blobs", "repos", "sealedreg.json"]))] == [
        "blobs", "repos", "sealedreg.json"]
