"""Mirror mode: containerd's `?ns=<host>` (docs/federation.md "As a mirror").

containerd, pulling `acme.test/app:1` through a mirror named in its
`hosts.toml`, strips the registry host and says it in the query:
`/v2/app/manifests/1?ns=acme.test`. When `<host>` is a namespace this
registry serves (its own, or one it federates), the request is rewritten to
`/v2/acme.test/app/manifests/1` before anything else sees it — auth checks
the full name, so the ACL of `acme.test/app` applies. Any other `ns` is left
alone: the name is then looked up as it came.
"""

from __future__ import annotations

import re
from typing import Callable
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

_NAMESPACE = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*")


class MirrorNamespace:
    def __init__(self, app: ASGIApp, serves: Callable[[str], bool]) -> None:
        self.app = app
        self.serves = serves

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v2/") and b"ns=" in scope.get("query_string", b""):
            scope = _rewritten(scope, self.serves)
        await self.app(scope, receive, send)


def _rewritten(scope: Scope, serves: Callable[[str], bool]) -> Scope:
    query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
    ns = next((v for k, v in query if k == "ns"), "").lower()
    rest = scope["path"][len("/v2/"):]
    if not _NAMESPACE.fullmatch(ns) or not rest or rest.startswith(("_catalog", f"{ns}/")) or not serves(ns):
        return scope
    path = f"/v2/{ns}/{rest}"
    return {**scope, "path": path, "raw_path": path.encode()}
