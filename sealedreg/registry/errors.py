"""Registry errors, one class per OCI distribution-spec error code.

The model raises these; `sealedreg.api.errors` turns them into the spec's JSON
body and HTTP status. Keeping the code on the exception (not the status) keeps
this layer free of HTTP.
"""

from __future__ import annotations

from typing import Any


class RegistryError(Exception):
    """Base class: `code` is the spec's error code, `detail` is optional JSON."""

    code = "UNKNOWN"
    default_message = "unknown error"

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.detail = detail


class BlobUnknown(RegistryError):
    code = "BLOB_UNKNOWN"
    default_message = "blob unknown to registry"


class BlobUploadUnknown(RegistryError):
    code = "BLOB_UPLOAD_UNKNOWN"
    default_message = "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code = "DIGEST_INVALID"
    default_message = "provided digest did not match uploaded content"


class ManifestBlobUnknown(RegistryError):
    code = "MANIFEST_BLOB_UNKNOWN"
    default_message = "manifest references a manifest or blob unknown to registry"


class ManifestInvalid(RegistryError):
    code = "MANIFEST_INVALID"
    default_message = "manifest invalid"


class ManifestUnknown(RegistryError):
    code = "MANIFEST_UNKNOWN"
    default_message = "manifest unknown to registry"


class NameInvalid(RegistryError):
    code = "NAME_INVALID"
    default_message = "invalid repository name"


class NameUnknown(RegistryError):
    code = "NAME_UNKNOWN"
    default_message = "repository name not known to registry"


class SizeInvalid(RegistryError):
    code = "SIZE_INVALID"
    default_message = "provided length did not match content length"


class Unsupported(RegistryError):
    code = "UNSUPPORTED"
    default_message = "the operation is unsupported"


class TooLarge(RegistryError):
    """Not a spec code of its own: a body over a limit (413, SIZE_INVALID code)."""

    code = "SIZE_INVALID"
    default_message = "content too large"


class RangeInvalid(RegistryError):
    """An upload chunk out of order or overlapping (416 on the API)."""

    code = "BLOB_UPLOAD_INVALID"
    default_message = "requested range not satisfiable"


class RangeNotSatisfiable(RegistryError):
    """A blob read range beyond the blob (416 on the API). The spec has no code
    for it; UNSUPPORTED is its "invalid set of parameters"."""

    code = "UNSUPPORTED"
    default_message = "requested range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(detail={"size": size})
        self.size = size


class Denied(RegistryError):
    """The request is understood but this registry will not do it for anyone
    (pushing to another organisation's federated namespace)."""

    code = "DENIED"
    default_message = "requested access to the resource is denied"


class Unavailable(RegistryError):
    """Not a spec code: a source this registry depends on (DNS, another
    organisation's IPFS node or gateway) did not answer in time (503, retry)."""

    code = "UNAVAILABLE"
    default_message = "a source of this content is unavailable; retry later"


class BodyStalled(RegistryError):
    """The request body stopped arriving for longer than `body_timeout` (408):
    a client that trickles or stalls does not keep an upload open for ever."""

    code = "BLOB_UPLOAD_INVALID"
    default_message = "the request body stalled"


class TooManyRequests(RegistryError):
    """A limit on concurrent work was reached; the client should retry shortly."""

    code = "TOOMANYREQUESTS"
    default_message = "too many requests"


class IntegrityError(Exception):
    """Stored content did not verify (its digest, a chunk's tag or a leaf's CID):
    the response must be refused or cut short. Not an OCI error code: the API
    answers 500 before the first byte, or drops the connection after it."""
