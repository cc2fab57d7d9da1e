"""Upload routes (end-4a/4b, end-5, end-6, end-11, end-13 and upload cancel).

POST   /v2/<name>/blobs/uploads/              start, monolithic (?digest=), mount (?mount=&from=)
GET    /v2/<name>/blobs/uploads/<id>          status: 204 with Range
PATCH  /v2/<name>/blobs/uploads/<id>          append: streamed or chunked (Content-Range)
PUT    /v2/<name>/blobs/uploads/<id>?digest=  last chunk (optional) and commit
DELETE /v2/<name>/blobs/uploads/<id>          cancel
"""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response

from sealedreg.api.access import MOUNTS, PUSHES, requires
from sealedreg.api.common import (
    body,
    content_range,
    digest_param,
    has_body,
    location,
    registry,
    repo_name,
    upload_range,
)
from sealedreg.api.errors import error_response
from sealedreg.api.limits import upload_slot
from sealedreg.auth.caller import may_pull
from sealedreg.registry.errors import RangeInvalid, RegistryError
from sealedreg.registry.refs import validate_name
from sealedreg.registry.uploads import Session


def _session_headers(request: Request, repo: str, session: Session) -> dict[str, str]:
    headers = {
        "Location": location(repo, "blobs", "uploads", session.id),
        "Range": upload_range(session.offset),
        "Docker-Upload-UUID": session.id,
        "Content-Length": "0",
    }
    min_chunk = request.app.state.config.chunk_min_length
    if min_chunk:
        headers["OCI-Chunk-Min-Length"] = str(min_chunk)
    return headers


def _created(repo: str, digest: str) -> Response:
    return Response(status_code=201, headers={
        "Location": location(repo, "blobs", digest),
        "Docker-Content-Digest": digest,
        "Content-Length": "0",
    })


@requires(MOUNTS)
async def start(request: Request) -> Response:
    repo = repo_name(request)
    reg = registry(request)
    params = request.query_params
    if "mount" in params:
        # Anything that cannot be mounted — a malformed digest, a blob in no
        # repository the caller may pull — falls back to a fresh session (202),
        # as the spec asks, and reveals nothing about other repositories. A
        # `from` the caller may not pull is treated exactly like one without
        # the blob; without a usable `from`, or when it lacks the blob, the
        # registry looks for it itself (automatic content discovery).
        try:
            digest = digest_param(params.get("mount"))
        except RegistryError:
            pass
        else:
            source = None
            with contextlib.suppress(RegistryError):
                source = validate_name(params.get("from") or "")
            mounted = None
            if source is not None and may_pull(request.scope, source):
                mounted = await reg.mount_blob(repo, digest, source)
            if mounted is None:
                mounted = await reg.discover_blob(repo, digest, lambda name: may_pull(request.scope, name))
            if mounted is not None:
                return _created(repo, mounted.digest)
    elif "digest" in params:
        digest = digest_param(params.get("digest"))
        with upload_slot(request):
            session = await reg.start_upload(repo)
            try:
                start_at, length = content_range(request)
                record = await reg.commit_upload(repo, session.id, digest, body(request), start_at, length)
            except BaseException:
                await reg.discard_upload(session.id)  # never shared: only this request knows its id
                raise
        return _created(repo, record.digest)
    session = await reg.start_upload(repo)
    return Response(status_code=202, headers=_session_headers(request, repo, session))


@requires(PUSHES)
async def status(request: Request) -> Response:
    repo = repo_name(request)
    session = await registry(request).upload_status(repo, request.path_params["session"])
    return Response(status_code=204, headers=_session_headers(request, repo, session))


@requires(PUSHES)
async def patch(request: Request) -> Response:
    repo = repo_name(request)
    try:
        with upload_slot(request):
            start_at, length = content_range(request)
            session = await registry(request).upload_chunk(
                repo, request.path_params["session"], body(request), start_at, length)
    except RangeInvalid as exc:
        return await _out_of_range(request, repo, exc)
    return Response(status_code=202, headers=_session_headers(request, repo, session))


@requires(PUSHES)
async def put(request: Request) -> Response:
    repo = repo_name(request)
    digest = digest_param(request.query_params.get("digest"))
    try:
        start_at, length = content_range(request)
        chunk = body(request) if has_body(request) else None
        with upload_slot(request) if chunk is not None else contextlib.nullcontext():
            record = await registry(request).commit_upload(
                repo, request.path_params["session"], digest, chunk, start_at, length)
    except RangeInvalid as exc:
        return await _out_of_range(request, repo, exc)
    return _created(repo, record.digest)


async def _out_of_range(request: Request, repo: str, exc: RangeInvalid) -> Response:
    """416 for a chunk out of order, with where the session really is, so the
    client can resume (the session itself is unchanged)."""
    session = await registry(request).upload_status(repo, request.path_params["session"])
    headers = {k: v for k, v in _session_headers(request, repo, session).items() if k != "Content-Length"}
    return error_response(exc.code, exc.message, 416, exc.detail, headers)


@requires(PUSHES)
async def cancel(request: Request) -> Response:
    repo = repo_name(request)
    await registry(request).cancel_upload(repo, request.path_params["session"])
    return Response(status_code=204, headers={"Content-Length": "0"})
