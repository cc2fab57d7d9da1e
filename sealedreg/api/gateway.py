"""A trustless IPFS gateway for the registry's own blocks: `GET /ipfs/<cid>`.

Responses are verifiable by the client: `?format=raw` (or `Accept:
application/vnd.ipld.raw`) is one block, `?format=car` (or `Accept:
application/vnd.ipld.car`) a CARv1 of the DAG under the CID, depth first.
Only blocks of DAGs the registry index still refers to are served; anything
else is 404, so orphaned or deleted content never leaks. Other formats are
406; paths below the CID are not routed (404).
"""

from __future__ import annotations

from typing import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from sealedreg.api.common import registry
from sealedreg.registry.service import Registry
from sealedreg.storage.car import header_bytes, section_bytes
from sealedreg.storage.cid import CID, CIDError

RAW_TYPE = "application/vnd.ipld.raw"
CAR_TYPE = "application/vnd.ipld.car"


def _plain(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain")


def _wanted(request: Request) -> str | None:
    fmt = request.query_params.get("format")
    if fmt in ("raw", "car"):
        return fmt
    if fmt is not None:
        return None
    accept = request.headers.get("accept", "")
    if RAW_TYPE in accept:
        return "raw"
    if CAR_TYPE in accept:
        return "car"
    return None


async def get_block(request: Request) -> Response:
    try:
        cid = CID.parse(request.path_params["cid"])
    except CIDError as exc:
        return _plain(400, f"invalid CID: {exc}")
    fmt = _wanted(request)
    if fmt is None:
        return _plain(406, "this is a trustless gateway: ask for ?format=raw or ?format=car")
    reg = registry(request)
    text = await reg.live_block(str(cid))
    if text is None:
        return _plain(404, f"{request.path_params['cid']} is not served here")
    headers = {
        "Content-Disposition": f'attachment; filename="{text}.{"bin" if fmt == "raw" else "car"}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "public, max-age=29030400, immutable",
        "Etag": f'"{text}.{fmt}"',
        "X-Ipfs-Roots": text,
    }
    if fmt == "raw":
        block = await reg.block(text)
        if block is None:
            return _plain(404, f"{text} is not served here")
        body = b"" if request.method == "HEAD" else block
        response = Response(body, media_type=RAW_TYPE, headers=headers)
        response.headers["content-length"] = str(len(block))
        return response
    headers["Content-Type"] = f"{CAR_TYPE}; version=1; order=dfs; dups=n"
    if request.method == "HEAD":
        return Response(headers=headers)
    return StreamingResponse(_car(reg, cid, text), headers=headers)


async def _car(reg: Registry, root: CID, text: str) -> AsyncIterator[bytes]:
    """The DAG under `text` as a CARv1 whose root is the CID as asked for."""
    yield header_bytes([root])
    async for block_cid, block in reg.dag(text):
        yield section_bytes(CID.parse(block_cid), block)
