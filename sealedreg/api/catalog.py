"""`GET /v2/_catalog` with `n`/`last` pagination and `Link`."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sealedreg.api.common import LIST_MAX, page_params, paginate, registry


async def list_repositories(request: Request) -> Response:
    last, n = page_params(request)
    limit = n if n is not None else LIST_MAX
    repos = await registry(request).catalog(last, limit + 1)
    page, headers = paginate(repos, limit, "/v2/_catalog")
    return JSONResponse({"repositories": page}, headers=headers)
