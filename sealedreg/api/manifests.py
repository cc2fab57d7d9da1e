"""Manifest routes: `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>`
(end-3, end-7, end-9). Bytes are stored and served exactly as pushed."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sealedreg.api.access import DELETES, PULLS, PUSHES, requires
from sealedreg.api.common import location, read_limited, registry, repo_name


@requires(PULLS)
async def get_or_head(request: Request) -> Response:
    repo = repo_name(request)
    reg = registry(request)
    reference = request.path_params["reference"]
    if request.method == "HEAD":
        record, _ = await reg.stat_manifest(repo, reference)
        body = b""
    else:
        stored = await reg.get_manifest(repo, reference)
        record, body = stored.record, stored.body
    headers = {
        "Docker-Content-Digest": record.digest,
        "Content-Type": record.media_type,
        "Content-Length": str(record.size),
        "ETag": f'"{record.digest}"',
    }
    return Response(body, headers=headers)


@requires(PUSHES)
async def put(request: Request) -> Response:
    repo = repo_name(request)
    body = await read_limited(request, registry(request).max_manifest_size)
    tags = request.query_params.getlist("tag")
    result = await registry(request).put_manifest(
        repo, request.path_params["reference"], body, request.headers.get("content-type"), tags)
    response = Response(status_code=201, headers={
        "Location": location(repo, "manifests", result.digest),
        "Docker-Content-Digest": result.digest,
        "Content-Length": "0",
    })
    if result.subject:
        response.headers["OCI-Subject"] = result.subject
    for tag in tags:
        response.headers.append("OCI-Tag", tag)
    return response


@requires(DELETES)
async def delete(request: Request) -> Response:
    repo = repo_name(request)
    await registry(request).delete_manifest(repo, request.path_params["reference"])
    return Response(status_code=202, headers={"Content-Length": "0"})
