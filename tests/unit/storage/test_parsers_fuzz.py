"""Fuzzing storage's parsers of untrusted bytes (issue 13, item 6): CAR files
and headers, CIDs (text and binary), varints and UnixFS nodes. Each raises
only its documented error, and what it accepts is what it claims: every
block a CAR yields matches its CID, a CID re-encodes to exactly the text or
bytes it was read from, a node's links and sizes agree."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import cbor2
from hypothesis import example, given
from hypothesis import strategies as st

from sealedreg.storage.car import CarError, decode_header, encode_header, read_car, read_car_async
from sealedreg.storage.cid import CID, DAG_PB, RAW, CIDError, read_varint, varint
from sealedreg.storage.unixfs import (DagError, Link, decode_directory, decode_file_node, encode_directory,
                                      encode_file_node)
from tests.helpers.fuzz import ANY_TEXT, FUZZ, mutated, mutated_text

VECTORS = Path(__file__).parents[2] / "vectors"
CAR = json.loads((VECTORS / "car-v1.json").read_text())
UNIXFS_FAILURES = json.loads((VECTORS / "unixfs-failures.json").read_text())

CARS = [bytes.fromhex(CAR["car_hex"])] + [bytes.fromhex(f["car_hex"]) for f in CAR["failures"]]
CIDS = [CID.of(b"leaf %d" % i, codec) for i in range(3) for codec in (RAW, DAG_PB)]
CIDS.append(CID(0, DAG_PB, CIDS[0].digest))
LINKS = [Link(cid, 10 + i, name) for i, (cid, name) in enumerate(zip(CIDS, ["a", "b", "c", "dir", "é", "z"]))]
FILE_NODES = [encode_file_node(LINKS[:n], [5 * (i + 1) for i in range(n)]) for n in (0, 1, 3)]
DIRECTORIES = [encode_directory(LINKS[:n]) for n in (0, 2, 5)]
NODES = FILE_NODES + DIRECTORIES + [bytes.fromhex(c["block_hex"]) for c in UNIXFS_FAILURES["cases"]]


# -- CAR ----------------------------------------------------------------------------------
def _read_all(raw: bytes):
    roots, blocks = read_car(io.BytesIO(raw))
    return roots, list(blocks)


async def _chunks(raw: bytes, size: int):
    for i in range(0, len(raw), size):
        yield raw[i:i + size]


def _read_all_async(raw: bytes, size: int):
    async def go():
        return [b async for b in read_car_async(_chunks(raw, size))]
    return asyncio.run(go())


@FUZZ
@given(raw=st.binary(max_size=300) | mutated(CARS), chunk=st.integers(1, 64))
def test_read_car_raises_only_car_error_and_yields_only_verified_blocks(raw, chunk):
    try:
        roots, blocks = _read_all(raw)
    except CarError:
        roots, blocks = None, None
    else:
        assert all(isinstance(r, CID) for r in roots)
        assert all(cid.verify(block) for cid, block in blocks)
    try:
        streamed = _read_all_async(raw, chunk)
    except CarError:
        streamed = None
    if blocks is not None and streamed is not None:
        assert streamed == blocks       # the two readers agree on what they accept


CBOR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**64), 2**64) | st.binary(max_size=40) | st.text(max_size=10)
    | st.sampled_from([cbor2.CBORTag(42, b"\0" + c.to_bytes()) for c in CIDS]) | st.floats(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6) | st.binary(max_size=4)
                                                               | st.integers(-5, 5), inner, max_size=4),
    max_leaves=12)


def _cbor(value) -> bytes:
    try:
        return cbor2.dumps(value)
    except (TypeError, ValueError, cbor2.CBOREncodeError):   # a map keyed by a list: not CBOR cbor2 writes
        return b""


@FUZZ
@given(raw=st.binary(max_size=120) | mutated([encode_header(CIDS[:n]) for n in (0, 1, 3)]) | CBOR_VALUES.map(_cbor)
       | st.fixed_dictionaries({"roots": CBOR_VALUES, "version": CBOR_VALUES}).map(_cbor))
@example(raw=bytes([0xa1, 0x61, 0xff, 0x00]))     # a text key that is not UTF-8: UnicodeDecodeError
@example(raw=bytes([0xa1, 0x80, 0x00]))           # an array as a map key: TypeError (unhashable)
@example(raw=bytes([0xa1, 0xa0, 0x00]))           # a map as a map key
def test_decode_header_raises_only_car_error(raw):
    try:
        roots = decode_header(raw)
    except CarError:
        return
    assert all(isinstance(r, CID) for r in roots)
    assert decode_header(encode_header(roots)) == roots


# -- CIDs -------------------------------------------------------------------------------
@FUZZ
@given(text=ANY_TEXT | mutated_text([str(c) for c in CIDS]))
def test_cid_text_raises_only_cid_error_and_round_trips(text):
    try:
        cid = CID.parse(text)
    except CIDError:
        return
    assert str(cid) == text and CID.from_bytes(cid.to_bytes()) == cid


@FUZZ
@given(raw=st.binary(max_size=60) | mutated([c.to_bytes() for c in CIDS]))
@example(raw=b"\x81\x00\x55\x12\x20" + bytes(32))            # version 1 as a two-byte varint
@example(raw=b"\x01\xd5\x00\x12\x20" + bytes(32))            # codec 0x55 padded out
@example(raw=b"\x01\x55\x92\x00\xa0\x00" + bytes(32))        # hash and length padded out
def test_binary_cid_raises_only_cid_error_and_is_canonical(raw):
    try:
        cid = CID.from_bytes(raw)
    except CIDError:
        return
    assert cid.to_bytes() == raw      # one CID, one byte form (multiformats varints are minimal)


@FUZZ
@given(raw=st.binary(max_size=24), pos=st.integers(0, 24))
def test_read_varint_raises_only_cid_error(raw, pos):
    try:
        value, end = read_varint(raw, pos)
    except CIDError:
        return
    assert pos < end <= min(len(raw), pos + 10) and 0 <= value < 1 << 70


@FUZZ
@given(n=st.integers(0, 2**63 - 1))
def test_varint_round_trips(n):
    assert read_varint(varint(n), 0) == (n, len(varint(n)))


# -- UnixFS nodes -------------------------------------------------------------------------
@FUZZ
@given(raw=st.binary(max_size=200) | mutated(NODES))
@example(raw=b"\x0a\x05\x08\x02\x22\x01\x80")           # packed blocksizes cut short: CIDError escaped
def test_decode_file_node_raises_only_dag_error(raw):
    try:
        node = decode_file_node(raw)
    except DagError:
        return
    assert len(node.links) == len(node.blocksizes)
    assert node.filesize == len(node.data) + sum(node.blocksizes)
    assert all(isinstance(link.cid, CID) and link.tsize >= 0 for link in node.links)


@FUZZ
@given(raw=st.binary(max_size=200) | mutated(NODES))
def test_decode_directory_raises_only_dag_error(raw):
    try:
        links = decode_directory(raw)
    except DagError:
        return
    names = [link.name.encode() for link in links]
    assert names == sorted(set(names)) and all(n and b"/" not in n and n not in (b".", b"..") for n in names)


@FUZZ
@given(n=st.integers(0, 6), sizes=st.lists(st.integers(0, 2**40), min_size=6, max_size=6))
def test_file_nodes_the_writer_writes_read_back(n, sizes):
    node = decode_file_node(encode_file_node(LINKS[:n], sizes[:n]))
    assert [(l.cid, l.tsize) for l in node.links] == [(l.cid, l.tsize) for l in LINKS[:n]]
    assert node.blocksizes == sizes[:n] and node.filesize == sum(sizes[:n])
