"""Liveness and readiness probes (docs/api.md "Metrics and health").

GET /healthz   200 while the process serves requests
GET /readyz    200 when the index and the store answer (`Registry.ready`), else 503

Both are unauthenticated (outside /v2/) and say only which check failed,
never why: the reason (a path, an address, an error) goes to the log.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sealedreg.api.common import registry


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "alive"}, headers={"Cache-Control": "no-store"})


async def readyz(request: Request) -> Response:
    checks = await registry(request).ready()
    failed = sorted(name for name, ok in checks.items() if not ok)
    body = {"status": "not ready", "failed": failed} if failed else {"status": "ready"}
    return JSONResponse(body, status_code=503 if failed else 200, headers={"Cache-Control": "no-store"})


ROUTES = [Route("/healthz", healthz, methods=["GET"]), Route("/readyz", readyz, methods=["GET"])]
