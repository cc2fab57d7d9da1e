"""The contract every storage backend keeps.

The seam is content-addressed: ciphertext goes in as a stream of leaves and
comes back as the root CID of a UnixFS DAG (`sealedreg.storage.unixfs`);
a byte range of a CID comes back out. Backends: `embedded` (a block
directory under the data dir, no daemon) and `kubo` (a real IPFS node).
Nothing in this package knows about digests, keys, repositories or
namespaces: what the bytes mean is the layers above's business.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import AsyncIterable, AsyncIterator, Protocol, Sequence

from sealedreg.storage.cid import CID, CIDError
from sealedreg.storage.unixfs import DagError, file_size

ContentId = str
"""The root CID of stored content, as base32 CIDv1 text."""


@dataclass(frozen=True)
class StoredContent:
    content_id: ContentId
    size: int  # bytes of content (ciphertext) under the root
    blocks: tuple[ContentId, ...] = field(default=(), repr=False)  # every block of the DAG


@dataclass(frozen=True)
class Released:
    """What a store gave back: blocks deleted (embedded) or DAG roots unpinned
    (an IPFS node, which reclaims the disk on its own GC), and their bytes."""

    count: int = 0
    bytes: int = 0


class StorageError(Exception):
    """The backend failed (unreachable, full, refused)."""


class StorageUnavailable(StorageError):
    """The backend cannot be reached or did not answer in time (503 on the API)."""


class ContentMissing(StorageError, LookupError):
    """A block or DAG is not in the store."""


class ContentCorrupt(StorageError, ValueError):
    """Stored bytes do not match their CID."""


class BlobStore(Protocol):
    """Content-addressed storage of UnixFS files.

    Guarantees every backend gives:

    * `put_chunks` takes the content as its leaves, in order (every chunk but
      the last exactly `unixfs.CHUNK_SIZE` bytes), and returns the root CID
      Kubo would give the same bytes. It is atomic as far as readers can
      tell: on return every block is durable; on error nothing refers to
      what was written. Putting the same content twice stores it once.
    * `read` yields exactly `length` bytes from `offset` (or to the end),
      every block verified against its CID first: it never yields bytes it
      knows to be wrong, and raises ContentCorrupt / ContentMissing instead.
    * Blocking work (file I/O, hashing) runs off the event loop.
    """

    name: str

    async def put_chunks(self, chunks: AsyncIterable[bytes]) -> StoredContent: ...

    def read(self, content_id: ContentId, offset: int = 0, length: int | None = None,
             verify_leaves: bool = True) -> AsyncIterator[bytes]:
        """`verify_leaves=False` only when the caller checks the whole content
        end to end itself (a whole-blob read hashed against its digest)."""
        ...

    async def size(self, content_id: ContentId) -> int: ...

    async def exists(self, content_id: ContentId) -> bool: ...

    async def get_block(self, cid: ContentId) -> bytes:
        """One block, verified; ContentMissing if absent."""
        ...

    async def put_block(self, cid: ContentId, block: bytes) -> None:
        """Store one block after checking it hashes to `cid` (ContentCorrupt if not)."""
        ...

    def dag(self, content_id: ContentId) -> AsyncIterator[tuple[ContentId, bytes]]:
        """Every block of the DAG under `content_id`, root first, each once."""
        ...

    async def keep_root(self, name: str, root: ContentId) -> None:
        """Keep the DAG under `root` as the current root called `name`, in place
        of the previous one (Kubo: pinned, and the MFS directory /sealedreg/<name>)."""
        ...

    async def retain(self, content_id: ContentId) -> None:
        """Keep the DAG under `content_id` stored (pin it, on an IPFS node)."""
        ...

    async def release(self, blocks: Sequence[ContentId], roots: Sequence[ContentId],
                      dry_run: bool = False) -> Released:
        """Give back what garbage collection found nothing keeps: the `blocks`
        of the embedded store (deleted), the `roots` this registry pinned on an
        IPFS node (unpinned). With `dry_run`, only measure. The caller holds the
        sweep lock (`sealedreg.registry.sweeplock`); what is already gone is not
        an error."""
        ...

    async def ready(self) -> None:
        """Return if the backend can serve now (its block directory is usable; the
        node answers), else raise. The caller bounds how long it waits."""
        ...

    async def quarantine(self, root: ContentId, blocks: Sequence[ContentId]) -> int:
        """Take damaged `blocks` (ones that fail their CID check, or are gone)
        of the DAG under `root` out of use, so the next store of the same
        content writes them afresh: moved aside on the embedded store, removed
        from an IPFS node (after unpinning `root`). Never touches a block that
        verifies. Returns how many were taken out."""
        ...

    async def close(self) -> None: ...


def parse_content_id(text: ContentId) -> CID:
    """A content id as a CID; one that cannot be parsed names nothing stored (ContentMissing)."""
    try:
        return CID.parse(text)
    except CIDError as exc:
        raise ContentMissing(f"{text!r}: {exc}") from None


def content_size(content_id: ContentId, root_block: bytes) -> int:
    """Bytes of file content under a DAG, from its (verified) root block."""
    try:
        return file_size(root_block, parse_content_id(content_id))
    except DagError as exc:
        raise ContentCorrupt(f"{content_id}: {exc}") from None
