"""`sealedreg-ce/v1` over streams, as pure transforms (docs/format.md §2):
which ciphertext bytes a plaintext range needs, how ciphertext arriving in
pieces of any size is cut back into its chunks, and how those chunks become
the plaintext of the range. No I/O here: the caller reads the store and feeds
the bytes in (`sealedreg.registry.content`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sealedreg.crypto.convergent import (
    CHUNK,
    PLAIN_CHUNK,
    TAG,
    ChunkCipher,
    DecryptionError,
    chunk_count,
    ciphertext_size,
    plain_length,
)


@dataclass(frozen=True)
class CipherSpan:
    """The ciphertext a plaintext range [offset, offset+length) lives in:
    chunks `first` … `last`, which are bytes [start, end) of the ciphertext."""

    offset: int
    length: int
    first: int
    last: int
    start: int
    end: int


def cipher_span(plain_size: int, offset: int = 0, length: int | None = None) -> CipherSpan:
    """The span of the range (ValueError if it is not inside the blob). An
    empty range needs nothing: first > last and start == end."""
    if length is None:
        length = plain_size - offset
    if offset < 0 or length < 0 or offset + length > plain_size:
        raise ValueError("range outside the blob")
    if length == 0 and plain_size > 0:
        return CipherSpan(offset, 0, 1, 0, 0, 0)
    first = offset // PLAIN_CHUNK
    last = max(offset + length - 1, 0) // PLAIN_CHUNK
    return CipherSpan(offset, length, first, last, first * CHUNK,
                      min((last + 1) * CHUNK, ciphertext_size(plain_size)))


class Framer:
    """Cuts ciphertext arriving in pieces of any size into chunks
    (index, bytes) for chunks `first` … `last` of a blob of `plain_size`.

    The common case — the store hands out one leaf per piece, and a leaf is a
    chunk — passes the piece through without a copy."""

    def __init__(self, plain_size: int, first: int = 0, last: int | None = None) -> None:
        self.plain_size = plain_size
        self.last = chunk_count(plain_size) - 1 if last is None else last
        self.index = first
        self._parts: deque[bytes | memoryview] = deque()  # pieces of the chunks not complete yet
        self._have = 0  # their bytes
        self._want = self._length(first)

    def _length(self, index: int) -> int:
        return plain_length(self.plain_size, index) + TAG if index <= self.last else 0

    def feed(self, piece: bytes) -> list[tuple[int, bytes]]:
        """The whole chunks completed by `piece`; DecryptionError on bytes past the last chunk."""
        out: list[tuple[int, bytes]] = []
        if self.index > self.last:
            if piece:
                raise DecryptionError("ciphertext continues past its last chunk")
            return out
        if not self._have and len(piece) == self._want:
            out.append((self.index, piece))
            self._advance()
            return out
        if piece:
            self._parts.append(piece)
            self._have += len(piece)
        while self.index <= self.last and self._have >= self._want:
            out.append((self.index, self._take(self._want)))
            self._advance()
        if self.index > self.last and self._have:
            raise DecryptionError("ciphertext continues past its last chunk")
        return out

    def _take(self, n: int) -> bytes:
        """The next `n` buffered bytes, copied once: a piece is cut through a
        memoryview, so one piece spanning many chunks is not copied again for
        each chunk taken from it."""
        taken: list[bytes | memoryview] = []
        need = n
        while need:
            part = self._parts[0]
            if len(part) <= need:
                taken.append(self._parts.popleft())
                need -= len(part)
            else:
                view = part if isinstance(part, memoryview) else memoryview(part)
                taken.append(view[:need])
                self._parts[0] = view[need:]
                need = 0
        self._have -= n
        only = taken[0]
        return only if len(taken) == 1 and isinstance(only, bytes) else b"".join(taken)

    def _advance(self) -> None:
        self.index += 1
        self._want = self._length(self.index)

    def finish(self) -> None:
        """DecryptionError unless every chunk up to `last` arrived."""
        if self.index <= self.last or self._have:
            raise DecryptionError(f"ciphertext ended early, in chunk {self.index}")


class RangeDecryptor:
    """Turns the chunks of a span back into the plaintext of its range: each
    chunk is authenticated before any of its bytes are released (DecryptionError)."""

    def __init__(self, key: bytes, plain_size: int, offset: int = 0, length: int | None = None) -> None:
        self.span = cipher_span(plain_size, offset, length)
        self._cipher = ChunkCipher(key, plain_size)

    def framer(self) -> Framer:
        return Framer(self._cipher.plain_size, self.span.first, self.span.last)

    def decrypt(self, index: int, chunk: bytes) -> bytes:
        span = self.span
        if not span.first <= index <= span.last:
            raise DecryptionError(f"chunk {index} is outside the range")
        plain = self._cipher.decrypt(index, chunk)
        lo = span.offset - index * PLAIN_CHUNK if index == span.first else 0
        hi = span.offset + span.length - index * PLAIN_CHUNK if index == span.last else len(plain)
        return plain if (lo, hi) == (0, len(plain)) else plain[lo:hi]
