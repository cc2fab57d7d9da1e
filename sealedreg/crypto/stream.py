"""The convergent codec on streams: files in, ciphertext leaves out, and
plaintext ranges back out of ciphertext, with the work in worker threads.

Memory stays flat: at most two chunks (≈ 2 MiB) are in flight per stream.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterator, Callable

from sealedreg.crypto.convergent import CHUNK, PLAIN_CHUNK, TAG, ChunkCipher, ciphertext_size

CipherReader = Callable[[int, int], AsyncIterator[bytes]]
"""read(offset, length) over the ciphertext, as the storage seam offers it."""


async def encrypt_file(path: Path, size: int, key: bytes) -> AsyncIterator[bytes]:
    """Yield the ciphertext of the first `size` bytes of `path`, one leaf at a time."""
    cipher = ChunkCipher(key, size)
    loop = asyncio.get_running_loop()
    f = await loop.run_in_executor(None, open, path, "rb")

    def produce(i: int) -> bytes:
        plain = f.read(cipher.plain_length(i))
        if len(plain) != cipher.plain_length(i):
            raise EOFError(f"{path.name} is shorter than {size} bytes")
        return cipher.encrypt(i, plain)

    try:
        pending = loop.run_in_executor(None, produce, 0)
        for i in range(cipher.chunks):
            chunk = await pending
            if i + 1 < cipher.chunks:
                pending = loop.run_in_executor(None, produce, i + 1)
            yield chunk
    finally:
        # Let an abandoned read-ahead finish before the file closes under it.
        if not pending.done():
            try:
                await pending
            except Exception:  # noqa: BLE001
                pass
        await loop.run_in_executor(None, f.close)


async def encrypt_bytes(data: bytes, key: bytes) -> AsyncIterator[bytes]:
    """Small content (manifests): encrypt chunk by chunk, yielding leaves."""
    cipher = ChunkCipher(key, len(data))
    for i in range(cipher.chunks):
        plain = data[i * PLAIN_CHUNK:(i + 1) * PLAIN_CHUNK]
        yield await asyncio.to_thread(cipher.encrypt, i, plain) if len(plain) > 65536 else cipher.encrypt(i, plain)


async def decrypt_range(read: CipherReader, key: bytes, plain_size: int,
                        offset: int = 0, length: int | None = None,
                        observe: Callable[[bytes], None] | None = None) -> AsyncIterator[bytes]:
    """Yield plaintext bytes [offset, offset+length) of a blob of `plain_size`.

    Only the ciphertext chunks covering the range are read; each is
    authenticated before any of its bytes are yielded (DecryptionError if not).
    `observe` sees every yielded piece, in order, in the worker thread (the
    registry hashes whole-blob reads there). Decryption of chunk i overlaps
    the sending of chunk i−1; the store already reads ahead.
    """
    if length is None:
        length = plain_size - offset
    if length <= 0:
        return
    if offset < 0 or offset + length > plain_size:
        raise ValueError("range outside the blob")
    cipher = ChunkCipher(key, plain_size)
    first, last = offset // PLAIN_CHUNK, (offset + length - 1) // PLAIN_CHUNK
    start = first * CHUNK
    end = min((last + 1) * CHUNK, ciphertext_size(plain_size))
    loop = asyncio.get_running_loop()

    def work(index: int, chunk: bytes) -> bytes:
        plain = cipher.decrypt(index, chunk)
        lo = offset - index * PLAIN_CHUNK if index == first else 0
        hi = offset + length - index * PLAIN_CHUNK if index == last else len(plain)
        piece = plain if (lo, hi) == (0, len(plain)) else plain[lo:hi]
        if observe is not None:
            observe(piece)
        return piece

    async def chunks() -> AsyncIterator[tuple[int, bytes]]:
        index = first
        want = cipher.plain_length(index) + TAG
        buf = bytearray()
        async for piece in read(start, end - start):
            if not buf and len(piece) == want:  # the common case: one leaf is one chunk
                yield index, piece
                index += 1
                want = cipher.plain_length(index) + TAG if index <= last else 0
                continue
            buf += piece
            while index <= last and len(buf) >= want:
                yield index, bytes(buf[:want])
                del buf[:want]
                index += 1
                want = cipher.plain_length(index) + TAG if index <= last else 0
        if index <= last:
            raise EOFError("ciphertext ended early")

    pending: asyncio.Future | None = None
    try:
        async for index, chunk in chunks():
            ready = await pending if pending is not None else None
            pending = loop.run_in_executor(None, work, index, chunk)
            if ready is not None:
                yield ready
        if pending is not None:
            ready, pending = await pending, None
            yield ready
    finally:
        if pending is not None:  # abandoned mid-stream: let the worker finish
            try:
                await pending
            except Exception:  # noqa: BLE001
                pass
