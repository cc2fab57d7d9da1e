"""CIDs: where a content identifier is computed, encoded and parsed.

Only what sealedreg produces and accepts: CIDv1, sha2-256 multihash, codecs
`raw` (leaves) and `dag-pb` (UnixFS nodes), base32 lower-case multibase
(`b…`) as text. CIDv0 (`Qm…`, dag-pb) is accepted on input for completeness.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12

BASE58BTC = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


class CIDError(ValueError):
    """Not a CID sealedreg can handle."""


def varint(n: int) -> bytes:
    """Unsigned LEB128, as multiformats and protobuf use it."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf: bytes | memoryview, pos: int) -> tuple[int, int]:
    """(value, next position); raises CIDError on truncation or over-long input."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CIDError("truncated varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CIDError("varint too long")


@dataclass(frozen=True)
class CID:
    version: int
    codec: int
    digest: bytes  # the sha2-256 digest (32 bytes)

    @classmethod
    def of(cls, block: bytes, codec: int) -> "CID":
        """The CIDv1 of `block` under `codec`: sha2-256 of the block's bytes."""
        return cls(1, codec, hashlib.sha256(block).digest())

    @property
    def multihash(self) -> bytes:
        return bytes([SHA2_256, 32]) + self.digest

    def to_bytes(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return varint(1) + varint(self.codec) + self.multihash

    def __str__(self) -> str:
        if self.version == 0:
            return radix_encode(self.multihash, BASE58BTC)
        return "b" + base64.b32encode(self.to_bytes()).decode().lower().rstrip("=")

    def verify(self, block: bytes) -> bool:
        """True when `block` is the content this CID names."""
        return hashlib.sha256(block).digest() == self.digest

    @classmethod
    def from_bytes(cls, raw: bytes) -> "CID":
        cid, end = cls.read(raw, 0)
        if end != len(raw):
            raise CIDError("trailing bytes after CID")
        return cid

    @classmethod
    def read(cls, buf: bytes | memoryview, pos: int) -> tuple["CID", int]:
        """Parse a binary CID at `pos` (as in CAR sections); return it and the end.

        Its varints must be minimal (multiformats' unsigned-varint rule), so one
        CID has one byte form: `to_bytes()` gives back exactly what was read."""
        start = pos
        if len(buf) - pos >= 34 and buf[pos] == SHA2_256 and buf[pos + 1] == 32:
            return cls(0, DAG_PB, bytes(buf[pos + 2:pos + 34])), pos + 34
        version, pos = read_varint(buf, pos)
        if version != 1:
            raise CIDError(f"unsupported CID version {version}")
        codec, pos = read_varint(buf, pos)
        if codec not in (RAW, DAG_PB):
            raise CIDError(f"unsupported codec 0x{codec:x}")
        hash_fn, pos = read_varint(buf, pos)
        length, pos = read_varint(buf, pos)
        if hash_fn != SHA2_256 or length != 32:
            raise CIDError("only sha2-256 multihashes are supported")
        if len(buf) < pos + 32:
            raise CIDError("truncated multihash")
        cid = cls(1, codec, bytes(buf[pos:pos + 32]))
        if bytes(buf[start:pos]) != cid.to_bytes()[:-32]:
            raise CIDError("non-minimal varint in CID")
        return cid, pos + 32

    @classmethod
    def parse(cls, text: str) -> "CID":
        if len(text) > 128:
            raise CIDError("CID text too long")
        if text.startswith("Qm") and len(text) == 46:
            raw = radix_decode(text, BASE58BTC)
            if raw[:2] != bytes([SHA2_256, 32]) or len(raw) != 34:
                raise CIDError("not a sha2-256 CIDv0")
            return cls(0, DAG_PB, raw[2:])
        if not text.startswith("b") or text != text.lower():
            raise CIDError("only base32 (b…) CIDv1 text is supported")
        body = text[1:].upper()
        try:
            raw = base64.b32decode(body + "=" * (-len(body) % 8))
        except ValueError:
            raise CIDError("invalid base32") from None
        cid = cls.from_bytes(raw)
        if str(cid) != text:
            raise CIDError("non-canonical CID text")
        return cid


def radix_encode(raw: bytes, alphabet: str) -> str:
    """Multibase's base-N bodies (base58btc, base36): the big-endian integer in
    `alphabet`, each leading zero byte kept as the alphabet's first digit."""
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, r = divmod(n, len(alphabet))
        out = alphabet[r] + out
    return alphabet[0] * (len(raw) - len(raw.lstrip(b"\0"))) + out


def radix_decode(text: str, alphabet: str) -> bytes:
    """The inverse of `radix_encode`; CIDError for a character not in `alphabet`."""
    n = 0
    for ch in text:
        i = alphabet.find(ch)
        if i < 0:
            raise CIDError(f"invalid base{len(alphabet)}")
        n = n * len(alphabet) + i
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip(alphabet[0]))) + raw
