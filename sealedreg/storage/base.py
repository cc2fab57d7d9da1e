"""The contract every storage backend keeps.

Backends: `embedded` (files under the data directory, no daemon) and, later,
`kubo` (a real IPFS node). The registry model talks only to this interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Protocol

from sealedreg.registry.digests import Digest

ContentId = str
"""An opaque, backend-chosen identifier of stored content (later: an IPFS CID)."""

READ_CHUNK = 1 << 20
"""Reads are delivered in pieces of at most this many bytes."""


@dataclass(frozen=True)
class StoredContent:
    content_id: ContentId
    size: int


class BlobStore(Protocol):
    """Content-addressed byte storage.

    Guarantees every backend gives:

    * `put_file` and `put_bytes` are atomic: on return the content is durable
      and readable under the returned id; on error or cancellation nothing is
      readable under any new id. Putting the same content twice returns the
      same id and stores it once.
    * The caller has verified that the content hashes to `digest` before
      calling put (DESIGN §7.2); the backend may use it to name the content
      but must not assume anything else about it.
    * `read` yields exactly `length` bytes from `offset` (or to the end), in
      pieces of at most READ_CHUNK, and raises if the stored content is
      shorter or fails the backend's own integrity check: it never yields
      bytes it knows to be wrong.
    * Blocking work (file I/O, hashing, crypto) runs off the event loop.
    """

    name: str

    async def put_file(self, path: Path, digest: Digest) -> StoredContent:
        """Store the verified file at `path`; the store may move it (the caller gives it up)."""
        ...

    async def put_bytes(self, data: bytes, digest: Digest) -> StoredContent:
        """Store small verified content (manifests)."""
        ...

    def read(self, content_id: ContentId, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Stream `length` bytes (default: to the end) starting at `offset`."""
        ...

    async def read_all(self, content_id: ContentId, limit: int) -> bytes:
        """Read small content whole; raise if it is larger than `limit`."""
        ...

    async def exists(self, content_id: ContentId) -> bool: ...

    async def delete(self, content_id: ContentId) -> None:
        """Remove content; removing what is not there is not an error."""
        ...

    def list(self) -> AsyncIterator[ContentId]: ...

    async def close(self) -> None: ...
