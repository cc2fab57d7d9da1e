"""CARv1 (Content Addressable aRchive): the air-gap transfer format.

    varint(len(header)) ‖ header           header = dag-cbor {"roots": [CID…], "version": 1}
    varint(len(cid)+len(block)) ‖ cid ‖ block    …one section per block

Only the dag-cbor the header needs is written and read here: a map of text
keys to an array of CIDs (tag 42) and an unsigned integer. Every block read
is checked against its CID before anyone sees it.
"""

from __future__ import annotations

from typing import AsyncIterator, BinaryIO, Iterator

from sealedreg.storage.cid import CID, CIDError, read_varint, varint

MAX_HEADER = 1 << 20
MAX_SECTION = 4 << 20  # a block is at most ~1 MiB; anything far larger is not ours


class CarError(ValueError):
    """A CAR file we cannot read, or a block that does not match its CID."""


def _cbor_head(major: int, n: int) -> bytes:
    if n < 24:
        return bytes([major << 5 | n])
    for add, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if n < 1 << (8 * size):
            return bytes([major << 5 | add]) + n.to_bytes(size, "big")
    raise ValueError("integer too large for CBOR")


def encode_header(roots: list[CID]) -> bytes:
    out = bytearray(_cbor_head(5, 2))
    out += _cbor_head(3, 5) + b"roots"
    out += _cbor_head(4, len(roots))
    for root in roots:
        raw = b"\x00" + root.to_bytes()  # the identity multibase prefix dag-cbor puts on CIDs
        out += b"\xd8\x2a" + _cbor_head(2, len(raw)) + raw
    out += _cbor_head(3, 7) + b"version" + _cbor_head(0, 1)
    return bytes(out)


def _cbor_decode(buf: bytes, pos: int, depth: int = 0) -> tuple[object, int]:
    if depth > 8:
        raise CarError("CAR header nested too deeply")
    if pos >= len(buf):
        raise CarError("truncated CAR header")
    first = buf[pos]
    pos += 1
    major, add = first >> 5, first & 31
    if add < 24:
        n = add
    elif add <= 27:
        size = 1 << (add - 24)
        if pos + size > len(buf):
            raise CarError("truncated CAR header")
        n = int.from_bytes(buf[pos:pos + size], "big")
        pos += size
    else:
        raise CarError("indefinite-length CBOR is not dag-cbor")
    if major == 0:
        return n, pos
    if major in (2, 3):
        if pos + n > len(buf):
            raise CarError("truncated CAR header")
        raw = buf[pos:pos + n]
        if major == 2:
            return raw, pos + n
        try:
            return raw.decode(), pos + n
        except UnicodeDecodeError:
            raise CarError("CAR header holds a text string that is not UTF-8") from None
    if major == 4:
        items = []
        for _ in range(n):
            item, pos = _cbor_decode(buf, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        out = {}
        for _ in range(n):
            key, pos = _cbor_decode(buf, pos, depth + 1)
            if not isinstance(key, str):  # dag-cbor map keys are strings (and a list could not be one)
                raise CarError("CAR header has a map key that is not a string")
            out[key], pos = _cbor_decode(buf, pos, depth + 1)
        return out, pos
    if major == 6 and n == 42:
        raw, pos = _cbor_decode(buf, pos, depth + 1)
        if not isinstance(raw, bytes) or not raw.startswith(b"\x00"):
            raise CarError("malformed CID in CAR header")
        try:
            return CID.from_bytes(raw[1:]), pos
        except CIDError as exc:
            raise CarError(f"CAR root: {exc}") from None
    raise CarError(f"unexpected CBOR item (major type {major}) in CAR header")


def decode_header(raw: bytes) -> list[CID]:
    header, end = _cbor_decode(raw, 0)
    if end != len(raw) or not isinstance(header, dict):
        raise CarError("CAR header is not a single map")
    if header.get("version") != 1:
        raise CarError(f"unsupported CAR version {header.get('version')!r}")
    roots = header.get("roots")
    if not isinstance(roots, list) or not all(isinstance(r, CID) for r in roots):
        raise CarError("CAR header roots must be a list of CIDs")
    return roots


def header_bytes(roots: list[CID]) -> bytes:
    """The start of a CARv1: its length-prefixed header."""
    header = encode_header(roots)
    return varint(len(header)) + header


def section_bytes(cid: CID, block: bytes) -> bytes:
    """One CARv1 section: length, CID, block."""
    raw = cid.to_bytes()
    return varint(len(raw) + len(block)) + raw + block


class CarWriter:
    """Writes a CARv1 to a binary file (blocking)."""

    def __init__(self, f: BinaryIO, roots: list[CID]) -> None:
        self._f = f
        f.write(header_bytes(roots))

    def add(self, cid: CID, block: bytes) -> None:
        self._f.write(section_bytes(cid, block))


def _read_varint(f: BinaryIO) -> int | None:
    value = shift = 0
    while True:
        b = f.read(1)
        if not b:
            if shift == 0:
                return None
            raise CarError("truncated varint")
        value |= (b[0] & 0x7F) << shift
        if not b[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise CarError("varint too long")


def _section(section: bytes) -> tuple[CID, bytes]:
    """The (CID, block) of one CAR section, the block checked against the CID."""
    try:
        cid, pos = CID.read(section, 0)
    except CIDError as exc:
        raise CarError(f"CAR section: {exc}") from None
    block = section[pos:]
    if not cid.verify(block):
        raise CarError(f"block {cid} does not match its CID")
    return cid, block


def read_car(f: BinaryIO) -> tuple[list[CID], Iterator[tuple[CID, bytes]]]:
    """(roots, verified blocks) of a CARv1; blocks are checked as they are read."""
    n = _read_varint(f)
    if n is None or n > MAX_HEADER:
        raise CarError("missing or oversized CAR header")
    raw = f.read(n)
    if len(raw) != n:
        raise CarError("truncated CAR header")
    roots = decode_header(raw)

    def blocks() -> Iterator[tuple[CID, bytes]]:
        while True:
            size = _read_varint(f)
            if size is None:
                return
            if size > MAX_SECTION:
                raise CarError(f"CAR section of {size} bytes is too large")
            section = f.read(size)
            if len(section) != size:
                raise CarError("truncated CAR section")
            yield _section(section)

    return roots, blocks()


async def read_car_async(stream: AsyncIterator[bytes]) -> AsyncIterator[tuple[CID, bytes]]:
    """The verified blocks of a CARv1 arriving as an async byte stream (its
    header is checked and skipped). Holds at most one section in memory."""
    buf = bytearray()
    it = stream.__aiter__()
    done = False

    async def need(n: int) -> bool:
        nonlocal done
        while len(buf) < n and not done:
            try:
                buf.extend(await it.__anext__())
            except StopAsyncIteration:
                done = True
        return len(buf) >= n

    async def varint_() -> int | None:
        pos = 0
        while True:
            if not await need(pos + 1):
                if pos == 0:
                    return None
                raise CarError("truncated varint")
            if not buf[pos] & 0x80:
                break
            pos += 1
            if pos > 9:
                raise CarError("varint too long")
        value, end = read_varint(buf, 0)
        del buf[:end]
        return value

    size = await varint_()
    if size is None or size > MAX_HEADER or not await need(size):
        raise CarError("missing, oversized or truncated CAR header")
    decode_header(bytes(buf[:size]))
    del buf[:size]
    while True:
        size = await varint_()
        if size is None:
            return
        if size > MAX_SECTION:
            raise CarError(f"CAR section of {size} bytes is too large")
        if not await need(size):
            raise CarError("truncated CAR section")
        section = bytes(buf[:size])
        del buf[:size]
        yield _section(section)
