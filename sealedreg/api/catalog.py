"""`GET /v2/_catalog` with `n`/`last` pagination and `Link`; with auth on,
only the repositories the caller may pull are listed."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sealedreg.api.access import CATALOG_LIST, requires
from sealedreg.api.common import LIST_MAX, page_params, paginate, registry
from sealedreg.auth.caller import visible_repositories


@requires(CATALOG_LIST)
async def list_repositories(request: Request) -> Response:
    last, n = page_params(request)
    limit = n if n is not None else LIST_MAX
    repos = await visible_repositories(request.scope, registry(request).catalog, last, limit + 1)
    page, headers = paginate(repos, limit, "/v2/_catalog")
    return JSONResponse({"repositories": page}, headers=headers)
