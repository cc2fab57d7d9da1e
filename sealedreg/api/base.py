"""`GET /v2/`: the API version check (end-1)."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sealedreg.api.access import CREDENTIAL, requires


@requires(CREDENTIAL)
async def version_check(request: Request) -> Response:
    return JSONResponse({})
