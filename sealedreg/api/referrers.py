"""`GET /v2/<name>/referrers/<digest>[?artifactType=]` (end-12a/12b)."""

from starlette.requests import Request
from starlette.responses import Response

from sealedreg.api.access import PULLS, requires
from sealedreg.api.common import digest_param, registry, repo_name
from sealedreg.registry.manifests import OCI_INDEX


@requires(PULLS)
async def list_referrers(request: Request) -> Response:
    repo = repo_name(request)
    subject = digest_param(request.path_params["digest"])
    artifact_type = request.query_params.get("artifactType") or None
    body = await registry(request).referrers(repo, subject, artifact_type)
    headers = {}
    if artifact_type is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    return Response(body, media_type=OCI_INDEX, headers=headers)
