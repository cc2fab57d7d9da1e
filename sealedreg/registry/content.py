"""Content on its way into and out of the store: the straight path between
plaintext the registry has verified and ciphertext DAGs (docs/format.md §2, §3).

Writes: a verified upload (a file) or small content (manifests) is encrypted
chunk by chunk — one chunk is one IPFS leaf — and streamed into the store.

Reads of a blob acknowledged but not yet encrypted (`registry.landing`):
`read_plain_verified` streams its verified upload file, hashed again on the
way out like a whole read.

Reads: `read_verified` takes the key from the caller (a domain secret today,
an envelope tomorrow), computes which ciphertext the range needs, reads it
from the store, frames and decrypts it (pure, `sealedreg.crypto.stream`) and
checks it: every chunk is authenticated and released at once; a whole read
is hashed against the digest beside the decryption, and its last few bytes
are held back until that matches; a ranged read has every leaf checked
against its CID by the store. On any mismatch the stream
raises IntegrityError, so a client never receives a complete wrong response.

The heavy loops (AES, SHA-256, file reads) run in worker threads, one chunk
ahead of the event loop; memory stays at a few chunks per stream.
"""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from pathlib import Path
from typing import AsyncIterator, Callable, TypeVar

from sealedreg.crypto.convergent import PLAIN_CHUNK, ChunkCipher, DecryptionError, ciphertext_size
from sealedreg.crypto.stream import Framer, RangeDecryptor
from sealedreg.registry.digests import Digest, new_hasher
from sealedreg.registry.errors import IntegrityError
from sealedreg.storage.base import BlobStore, ContentId, StorageError, StorageUnavailable, StoredContent
from sealedreg.storage.unixfs import FileDagBuilder

T = TypeVar("T")

_THREAD_HASH = 256 * 1024
"""Pieces at least this long are hashed in a worker thread (hashlib lets go of the GIL)."""

_HELD_BACK = 4096
"""Bytes at the end of a whole read that wait for its digest to match: without
them the client has no complete response, whatever came before."""


async def _finish(pending: asyncio.Future | None) -> None:
    """Let a worker abandoned mid-stream finish before its inputs go away."""
    if pending is not None and not pending.done():
        try:
            await pending
        except Exception:  # noqa: BLE001 - the stream is already failing or closed
            pass


# -- writing ---------------------------------------------------------------------
async def _encrypted_file(path: Path, size: int, key: bytes, digest: str) -> AsyncIterator[bytes]:
    """The ciphertext of the first `size` bytes of `path`, one leaf at a time,
    the next chunk read and encrypted while this one is stored. The bytes are
    hashed again as they are read, and the last chunk is held back unless they
    still match `digest` (IntegrityError): what the key was derived from is
    exactly what gets encrypted, however long the file waited."""
    cipher = ChunkCipher(key, size)
    hasher = new_hasher(Digest.parse(digest).algorithm)
    loop = asyncio.get_running_loop()
    f = await loop.run_in_executor(None, open, path, "rb")

    def produce(i: int) -> bytes:
        plain = f.read(cipher.plain_length(i))
        if len(plain) != cipher.plain_length(i):
            raise EOFError(f"{path.name} is shorter than {size} bytes")
        hasher.update(plain)
        return cipher.encrypt(i, plain)

    pending: asyncio.Future | None = None
    try:
        pending = loop.run_in_executor(None, produce, 0)
        for i in range(cipher.chunks):
            chunk = await pending
            pending = loop.run_in_executor(None, produce, i + 1) if i + 1 < cipher.chunks else None
            if pending is None and hasher.hexdigest() != Digest.parse(digest).hex:
                raise IntegrityError(f"{digest}: its upload file changed after it was verified")
            yield chunk
    finally:
        try:
            await _finish(pending)
        finally:
            f.close()  # even when cancelled; the read-ahead has finished or never started


async def _encrypted_bytes(data: bytes, key: bytes) -> AsyncIterator[bytes]:
    cipher = ChunkCipher(key, len(data))
    for i in range(cipher.chunks):
        plain = data[i * PLAIN_CHUNK:(i + 1) * PLAIN_CHUNK]
        yield await asyncio.to_thread(cipher.encrypt, i, plain) if len(plain) > 65536 else cipher.encrypt(i, plain)


async def store_file(store: BlobStore, path: Path, size: int, key: bytes, digest: str) -> StoredContent:
    """Encrypt a verified upload (the first `size` bytes of `path`, blob `digest`) into the store."""
    return await store.put_chunks(_encrypted_file(path, size, key, digest))


async def store_bytes(store: BlobStore, data: bytes, key: bytes) -> StoredContent:
    """Encrypt small verified content (a manifest) into the store."""
    return await store.put_chunks(_encrypted_bytes(data, key))


# -- reading ---------------------------------------------------------------------
async def _pipeline(pieces: AsyncIterator[bytes], framer: Framer,
                    work: Callable[[int, bytes], T]) -> AsyncIterator[T]:
    """`work(index, chunk)` on every framed chunk in a worker thread, one chunk
    ahead: the next chunk is processed while the previous result is consumed.
    The first result is handed on as soon as it is ready (the time to the first
    byte), and any other as soon as it is found ready between pieces: from a
    network store the next 1 MiB may be a while coming."""
    loop = asyncio.get_running_loop()
    pending: asyncio.Future | None = None
    first = True
    try:
        async for piece in pieces:
            for index, chunk in framer.feed(piece):
                ready = await pending if pending is not None else None
                pending = loop.run_in_executor(None, work, index, chunk)
                if ready is not None:
                    yield ready
            if pending is not None and (first or pending.done()):
                ready, pending, first = await pending, None, False
                yield ready
        framer.finish()
        if pending is not None:
            ready, pending = await pending, None
            yield ready
    finally:
        await _finish(pending)


async def read_verified(store: BlobStore, cid: ContentId, key: bytes, digest: str, size: int,
                        offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
    """Plaintext bytes [offset, offset+length) of the blob `digest` of `size`
    bytes stored as `cid` under `key`, verified as the module says.

    StorageUnavailable passes through (the backend is down: a 503, not an
    integrity problem); anything else wrong with the content is IntegrityError."""
    decryptor = RangeDecryptor(key, size, offset, length)
    span = decryptor.span
    whole = span.offset == 0 and span.length == size
    hasher = new_hasher(Digest.parse(digest).algorithm) if whole else None
    if span.start == span.end:
        return
    # A whole read is checked end to end against the digest, which covers
    # every leaf; a ranged read cannot be, so the store checks each leaf's CID.
    reading = store.read(cid, span.start, span.end - span.start, verify_leaves=not whole)
    loop = asyncio.get_running_loop()
    remaining = span.last - span.first + 1  # chunks not yet released
    held: bytes | None = None
    hashing: asyncio.Future | None = None  # the digest's update with the latest chunk, in its own thread
    try:
        # aclosing: a client that stops reading ends the store's read at once, not at garbage collection.
        async with aclosing(reading) as ciphertext, \
                aclosing(_pipeline(ciphertext, decryptor.framer(), decryptor.decrypt)) as plain:
            async for piece in plain:
                remaining -= 1
                if hasher is None:
                    yield piece
                    continue
                # Each chunk is authenticated — in the global domain, where the key
                # follows from the digest, that proves only that it is not corrupt —
                # so it goes out at once; the digest is computed beside the
                # decryption, and the last 4 KiB wait for it: a client never has a
                # complete response with wrong bytes.
                if hashing is not None:
                    await hashing
                    hashing = None
                if len(piece) >= _THREAD_HASH:
                    hashing = loop.run_in_executor(None, hasher.update, piece)
                else:
                    hasher.update(piece)
                if remaining:
                    yield piece
                else:  # all but a few bytes of it go out while the digest finishes
                    if len(piece) > _HELD_BACK:
                        yield piece[:-_HELD_BACK]
                    held = piece[-_HELD_BACK:]
            if hashing is not None:
                await hashing
    except StorageUnavailable:
        raise
    except (DecryptionError, StorageError, EOFError) as exc:
        raise IntegrityError(f"{digest}: {exc}") from None
    finally:
        await _finish(hashing)
    if hasher is not None:
        if hasher.hexdigest() != Digest.parse(digest).hex:
            raise IntegrityError(f"stored content for {digest} does not match its digest")
        if held is not None:
            yield held


async def read_plain_verified(path: Path, size: int, digest: str) -> AsyncIterator[bytes]:
    """The first `size` bytes of the plaintext file `path`, which must hash to
    `digest`: hashed while it streams, the last few bytes held back until it
    matches (IntegrityError otherwise). FileNotFoundError before the first
    byte when the file is gone (the blob has landed in the meantime)."""
    loop = asyncio.get_running_loop()
    f = await loop.run_in_executor(None, open, path, "rb")
    hasher = new_hasher(Digest.parse(digest).algorithm)
    remaining = size

    def produce() -> bytes:
        piece = f.read(min(PLAIN_CHUNK, remaining))
        hasher.update(piece)
        return piece

    held: bytes | None = None
    pending: asyncio.Future | None = None
    try:
        pending = loop.run_in_executor(None, produce) if remaining else None
        while pending is not None:
            piece, pending = await pending, None
            if not piece:
                raise IntegrityError(f"{digest}: its upload file is shorter than {size} bytes")
            remaining -= len(piece)
            if remaining:
                pending = loop.run_in_executor(None, produce)
                yield piece
            else:
                if len(piece) > _HELD_BACK:
                    yield piece[:-_HELD_BACK]
                held = piece[-_HELD_BACK:]
    finally:
        try:
            await _finish(pending)
        finally:
            f.close()
    if hasher.hexdigest() != Digest.parse(digest).hex:
        raise IntegrityError(f"the upload file of {digest} does not match its digest")
    if held is not None:
        yield held


async def read_all(store: BlobStore, cid: ContentId, key: bytes, digest: str, size: int) -> bytes:
    """A small blob (a manifest) whole, verified."""
    return b"".join([piece async for piece in read_verified(store, cid, key, digest, size)])


async def prove(store: BlobStore, cid: ContentId, key: bytes, digest: str, size: int) -> tuple[ContentId, ...]:
    """Check, in one pass over the stored ciphertext, that `cid` is the canonical
    DAG of its bytes (the CID a push would have given) and that they decrypt to
    content with `digest`. Returns the DAG's block CIDs; IntegrityError if not.

    For content that arrived from elsewhere (a CAR import), before it is indexed."""
    names: list[str] = []
    builder = FileDagBuilder(lambda block_cid, block: names.append(str(block_cid)))
    cipher = ChunkCipher(key, size)
    parsed = Digest.parse(digest)
    hasher = new_hasher(parsed.algorithm)

    def leaf(index: int, chunk: bytes) -> None:
        builder.add_leaf(chunk)
        hasher.update(cipher.decrypt(index, chunk))

    try:
        async with aclosing(store.read(cid, 0, ciphertext_size(size))) as ciphertext:
            async for _ in _pipeline(ciphertext, Framer(size), leaf):
                pass
    except StorageUnavailable:
        raise
    except (StorageError, DecryptionError) as exc:
        raise IntegrityError(f"{digest} does not verify: {exc}") from None
    if hasher.hexdigest() != parsed.hex:
        raise IntegrityError(f"{digest}: the content does not match its digest")
    root = builder.finish()
    if str(root.cid) != cid:
        raise IntegrityError(f"{digest}: {cid} is not the canonical DAG of its ciphertext (expected {root.cid})")
    return tuple(dict.fromkeys(names))
