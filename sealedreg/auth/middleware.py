"""Auth for every `/v2/` request, in one place: the route → scope table and
the ASGI middleware that applies it before any endpoint runs.

The request is matched against the same route table the app serves, so the
scope checked is always the scope of the endpoint that will run. An endpoint
missing from `ACCESS` stops the app from starting (fail closed). Requests
outside `/v2/` (`/token`, the `/ipfs/` gateway of ciphertext blocks) pass.

Endpoints learn who is calling through `sealedreg.auth.caller`.
"""

from __future__ import annotations

from typing import Callable, Sequence

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope as AsgiScope, Send

from sealedreg.api import base, blobs, catalog, manifests, referrers, tags, uploads
from sealedreg.auth.scopes import CATALOG, DELETE, PULL, PUSH, REGISTRY, REPOSITORY, Scope
from sealedreg.auth.caller import IDENTITY_KEY
from sealedreg.auth.service import Authenticator, Identity, Need
from sealedreg.registry.errors import NameInvalid
from sealedreg.registry.refs import validate_name

_READ = frozenset({PULL})
_WRITE = frozenset({PULL, PUSH})
_DELETE = frozenset({DELETE})
_CATALOG = "catalog"
_ANY = "credential"

ACCESS: dict[Callable, frozenset[str] | str] = {
    base.version_check: _ANY,
    catalog.list_repositories: _CATALOG,
    uploads.start: _WRITE,
    uploads.status: _WRITE,
    uploads.patch: _WRITE,
    uploads.put: _WRITE,
    uploads.cancel: _WRITE,
    blobs.get_or_head: _READ,
    blobs.delete: _DELETE,
    manifests.get_or_head: _READ,
    manifests.put: _WRITE,
    manifests.delete: _DELETE,
    tags.list_tags: _READ,
    referrers.list_referrers: _READ,
}
"""What each /v2/ endpoint needs: repository actions on `{name}`, the
catalog scope, or just a valid credential."""


def check_table(routes: Sequence[BaseRoute]) -> None:
    """Every /v2/ route must have an entry in ACCESS (fail closed)."""
    for route in routes:
        if isinstance(route, Route) and route.path.startswith("/v2") and route.endpoint not in ACCESS:
            raise RuntimeError(f"auth: no access rule for route {route.path} ({route.endpoint.__name__})")


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def need_of(routes: Sequence[BaseRoute], scope: AsgiScope) -> Need:
    """The scopes a /v2/ request needs, from the route it will reach."""
    for route in routes:
        match, child = route.matches(scope)
        if match is not Match.FULL:
            continue
        rule = ACCESS.get(child.get("endpoint"))
        if rule is None or rule == _ANY:
            return Need()
        if rule == _CATALOG:
            return Need((Scope(REGISTRY, CATALOG, frozenset({"*"})),))
        try:
            name = validate_name(child["path_params"]["name"])
        except (KeyError, NameInvalid):
            return Need()  # the endpoint answers NAME_INVALID to whoever holds a credential
        optional: tuple[Scope, ...] = ()
        if child.get("endpoint") is uploads.start:
            source = _query_value(scope, b"from")
            if source and source != name:
                try:
                    optional = (Scope(REPOSITORY, validate_name(source), _READ),)
                except NameInvalid:
                    pass
        assert isinstance(rule, frozenset)
        return Need((Scope(REPOSITORY, name, rule),), optional)
    return Need()  # unknown path or method: any credential, then the app's 404/405


def _query_value(scope: AsgiScope, key: bytes) -> str | None:
    from urllib.parse import parse_qsl

    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if k.encode("latin-1") == key:
            return v
    return None


class AuthMiddleware:
    """Let a /v2/ request through only with what its route needs."""

    def __init__(self, app: ASGIApp, auth: Authenticator, routes: Sequence[BaseRoute]) -> None:
        check_table(routes)
        self.app = app
        self.auth = auth
        self.routes = routes

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_v2(scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = await self.auth.authorize(scope, need_of(self.routes, scope))
        if not isinstance(decision, Identity):
            await decision(scope, receive, send)
            return
        scope[IDENTITY_KEY] = decision
        await self.app(scope, receive, send)
