"""OCI error responses: the spec's JSON body with the right HTTP status.

The model raises `RegistryError` subclasses that carry the spec's error
code; this module owns the code → status table and the body format:
`{"errors": [{"code": ..., "message": ..., "detail": ...}]}`.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from sealedreg.registry import errors as e
from sealedreg.storage.base import StorageUnavailable

log = logging.getLogger("sealedreg.api")

STATUS: dict[type[e.RegistryError], int] = {
    e.BlobUnknown: 404,
    e.BlobUploadUnknown: 404,
    e.DigestInvalid: 400,
    e.ManifestBlobUnknown: 400,
    e.ManifestInvalid: 400,
    e.ManifestUnknown: 404,
    e.NameInvalid: 400,
    e.NameUnknown: 404,
    e.SizeInvalid: 400,
    e.Unsupported: 400,
    e.TooLarge: 413,
    e.RangeInvalid: 416,
    e.RangeNotSatisfiable: 416,
    e.Denied: 403,
    e.Unavailable: 503,
    e.TooManyRequests: 429,
    e.BodyStalled: 408,
}
# UnknownDomain and any other code without an entry: 500.


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    entry: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        entry["detail"] = detail
    return json.dumps({"errors": [entry]}).encode()


def error_response(code: str, message: str, status: int, detail: Any = None,
                   headers: dict[str, str] | None = None, head: bool = False) -> Response:
    body = error_body(code, message, detail)
    response = Response(b"" if head else body, status_code=status, media_type="application/json",
                        headers=headers)
    if head:
        response.headers["content-length"] = str(len(body))
    return response


def status_of(exc: e.RegistryError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


async def registry_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.RegistryError)
    status = status_of(exc)
    headers = {}
    if isinstance(exc, e.RangeNotSatisfiable):
        headers["Content-Range"] = f"bytes */{exc.size}"
    if status == 503:
        headers["Retry-After"] = "5"
    if status == 429:
        headers["Retry-After"] = "1"
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc.message)
    return error_response(exc.code, exc.message, status, exc.detail, headers, head=request.method == "HEAD")


async def storage_error_handler(request: Request, exc: Exception) -> Response:
    """The storage backend failed: 503 when it is unreachable (clients retry),
    500 otherwise. The message is the backend's, never a secret."""
    unavailable = isinstance(exc, StorageUnavailable)
    log.error("%s %s: storage: %s", request.method, request.url.path, exc)
    return error_response("UNAVAILABLE" if unavailable else "UNKNOWN",
                          f"storage backend {'unavailable' if unavailable else 'failed'}: {exc}",
                          503 if unavailable else 500, head=request.method == "HEAD",
                          headers={"Retry-After": "5"} if unavailable else None)


async def integrity_error_handler(request: Request, exc: Exception) -> Response:
    """Stored content failed verification before any byte was sent."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    return error_response("UNKNOWN", "stored content failed verification; nothing was served", 500,
                          head=request.method == "HEAD")


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    """Anything else: a JSON 500 that says nothing about the internals (they are logged)."""
    log.exception("%s %s: unexpected error", request.method, request.url.path, exc_info=exc)
    return error_response("UNKNOWN", "internal error", 500, head=request.method == "HEAD")
