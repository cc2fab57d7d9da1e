"""IPNS records this registry signed, over HTTP: `GET /ipns/<name>?format=ipns-record`
(the trustless gateway form) and `GET /routing/v1/ipns/<name>` (delegated
routing, IPIP-379). Another registry resolving an `/ipns/` DNSLink asks the
`gateway=` hint here first; the record is signed, so the transport needs no
trust. Only records for this registry's own namespaces exist here.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from sealedreg.api.common import registry

RECORD_TYPE = "application/vnd.ipfs.ipns-record"


def _plain(status: int, message: str) -> Response:
    return Response(message + "\n", status_code=status, media_type="text/plain")


async def _record(request: Request) -> Response:
    name = request.path_params["name"]
    record = await registry(request).ipns_record(name)
    if record is None:
        return _plain(404, f"no IPNS record for {name[:100]} here")
    return Response(b"" if request.method == "HEAD" else record, media_type=RECORD_TYPE, headers={
        "Content-Length": str(len(record)),
        "Cache-Control": "public, max-age=30",
        "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'attachment; filename="{name}.ipns-record"',
    })


async def gateway_record(request: Request) -> Response:
    """`/ipns/<name>`: only the verifiable record form; this gateway does not resolve paths."""
    wanted = request.query_params.get("format") == "ipns-record" or RECORD_TYPE in request.headers.get("accept", "")
    if not wanted:
        return _plain(406, "this is a trustless gateway: ask for ?format=ipns-record")
    return await _record(request)


async def routing_record(request: Request) -> Response:
    """`/routing/v1/ipns/<name>`."""
    return await _record(request)
