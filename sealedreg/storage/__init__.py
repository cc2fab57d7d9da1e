"""The storage seam: content goes in as bytes, comes back as a content id.

The seam is content-addressed, not path-based: `put` a verified file or
bytes and get a `ContentId`; `read` a byte range of a content id. The names of
things (repositories, tags) live in the registry index, never here.
"""

from sealedreg.storage.base import BlobStore, ContentId, StoredContent

__all__ = ["BlobStore", "ContentId", "StoredContent"]
