"""Blob routes: `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (end-2, end-10)."""

from __future__ import annotations

import logging
from typing import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from sealedreg.api.access import DELETES, PULLS, requires
from sealedreg.api.common import digest_param, registry, repo_name
from sealedreg.api.ranges import parse_range
from sealedreg.auth.caller import may_pull, may_push
from sealedreg.registry.errors import BlobUnknown, IntegrityError

log = logging.getLogger("sealedreg.api")


@requires(PULLS)
async def get_or_head(request: Request) -> Response:
    repo = repo_name(request)
    digest = digest_param(request.path_params["digest"])
    reg = registry(request)
    try:
        record = await reg.stat_blob(repo, digest)
    except BlobUnknown:
        # A pushing client asks HEAD before it uploads: a blob it could mount
        # from a repository it may pull is linked here instead of re-sent.
        if request.method != "HEAD" or not may_push(request.scope, repo):
            raise
        record = await reg.discover_blob(repo, digest, lambda name: may_pull(request.scope, name))
        if record is None:
            raise
    headers = {
        "Docker-Content-Digest": record.digest,
        "Accept-Ranges": "bytes",
        "Content-Type": "application/octet-stream",
        "ETag": f'"{record.digest}"',
    }
    if request.method == "HEAD":
        return Response(headers={**headers, "Content-Length": str(record.size)})
    span = parse_range(request.headers.get("range"), record.size)
    if span is None:
        start, length, status = 0, record.size, 200
    else:
        start, end = span
        length, status = end - start + 1, 206
        headers["Content-Range"] = f"bytes {start}-{end}/{record.size}"
    headers["Content-Length"] = str(length)
    body = _guarded(reg.read_blob(record, start, length), record.digest)
    # Take the first piece before answering, so an unreachable backend is a
    # clean 503 rather than a response cut off after its headers.
    first = await anext(body, None)
    return StreamingResponse(_prepend(first, body), status_code=status, headers=headers)


async def _prepend(first: bytes | None, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first is not None:
        yield first
        async for piece in rest:
            yield piece


async def _guarded(stream: AsyncIterator[bytes], digest: str) -> AsyncIterator[bytes]:
    """Log integrity failures once, clearly, then let the connection drop."""
    try:
        async for piece in stream:
            yield piece
    except IntegrityError as exc:
        log.error("aborting blob response for %s: %s", digest, exc)
        raise
    except Exception as exc:
        log.error("aborting blob response for %s: storage read failed: %s", digest, exc)
        raise


@requires(DELETES)
async def delete(request: Request) -> Response:
    repo = repo_name(request)
    digest = digest_param(request.path_params["digest"])
    await registry(request).delete_blob(repo, digest)
    return Response(status_code=202, headers={"Content-Length": "0"})
