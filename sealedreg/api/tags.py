"""`GET /v2/<name>/tags/list` with `n`/`last` pagination and `Link` (end-8a/8b)."""

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sealedreg.api.access import PULLS, requires
from sealedreg.api.common import LIST_MAX, page_params, paginate, registry, repo_name


@requires(PULLS)
async def list_tags(request: Request) -> Response:
    repo = repo_name(request)
    last, n = page_params(request)
    limit = n if n is not None else LIST_MAX
    tags = await registry(request).list_tags(repo, last, limit + 1)
    page, headers = paginate(tags, limit, f"/v2/{repo}/tags/list")
    return JSONResponse({"name": repo, "tags": page}, headers=headers)
