"""What each `/v2/` route needs, declared on its endpoint, and the middleware
that asks auth and renders its refusals (docs/auth.md "What each route needs").

An endpoint says what it needs with `@requires(...)`, beside its code:
repository actions on the `{name}` it serves, the catalog scope, or just a
valid credential. The middleware matches a request against the same route
table the app serves, so the need checked is always the need of the endpoint
that will run; a `/v2/` route without a declared need stops the app from
being built (fail closed). Requests outside `/v2/` (`/token`, the `/ipfs/`
gateway of ciphertext blocks, the browse page `/ui/`, which asks auth for
its viewer itself, the probes `/healthz` and `/readyz`, and `/metrics`,
answered to loopback callers only) pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence, TypeVar
from urllib.parse import parse_qsl

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Scope as AsgiScope, Send

from sealedreg.api.errors import error_response
from sealedreg.auth.authorize import Authenticator
from sealedreg.auth.caller import IDENTITY_KEY
from sealedreg.auth.identity import Identity, Need
from sealedreg.auth.scopes import CATALOG, DELETE, PULL, PUSH, REGISTRY, REPOSITORY, Scope
from sealedreg.registry.errors import NameInvalid
from sealedreg.registry.refs import validate_name

E = TypeVar("E", bound=Callable)


@dataclass(frozen=True)
class Access:
    """A route's need: `actions` on the repository it names (`{name}`), the
    registry catalog, or (neither) any valid credential. `mount_from` adds an
    optional pull on the `from=` repository of a cross-repository mount."""

    actions: frozenset[str] = frozenset()
    catalog: bool = False
    mount_from: bool = False

    def need(self, scope: AsgiScope, path_params: dict) -> Need:
        if self.catalog:
            return Need((Scope(REGISTRY, CATALOG, frozenset({"*"})),))
        if not self.actions:
            return Need()
        try:
            name = validate_name(path_params["name"])
        except (KeyError, NameInvalid):
            return Need()  # the endpoint answers NAME_INVALID to whoever holds a credential
        optional: tuple[Scope, ...] = ()
        source = _query_value(scope, "from") if self.mount_from else None
        if source and source != name:
            try:
                optional = (Scope(REPOSITORY, validate_name(source), frozenset({PULL})),)
            except NameInvalid:
                pass
        return Need((Scope(REPOSITORY, name, self.actions),), optional)


CREDENTIAL = Access()
CATALOG_LIST = Access(catalog=True)
PULLS = Access(frozenset({PULL}))
PUSHES = Access(frozenset({PULL, PUSH}))
DELETES = Access(frozenset({DELETE}))
MOUNTS = Access(frozenset({PULL, PUSH}), mount_from=True)


def requires(access: Access) -> Callable[[E], E]:
    """Declare what an endpoint needs; the middleware enforces it."""
    def mark(endpoint: E) -> E:
        endpoint.access = access  # type: ignore[attr-defined]
        return endpoint

    return mark


def access_of(endpoint: Callable | None) -> Access | None:
    return getattr(endpoint, "access", None)


def _is_v2(path: str) -> bool:
    return path == "/v2" or path.startswith("/v2/")


def check_routes(routes: Sequence[BaseRoute]) -> None:
    """Every /v2/ route must declare what it needs (fail closed)."""
    for route in routes:
        if isinstance(route, Route) and _is_v2(route.path) and access_of(route.endpoint) is None:
            raise RuntimeError(f"auth: no access rule for route {route.path} ({route.endpoint.__name__})")


def need_of(routes: Sequence[BaseRoute], scope: AsgiScope) -> Need:
    """What a /v2/ request needs, from the route it will reach."""
    for route in routes:
        match, child = route.matches(scope)
        if match is Match.FULL:
            access = access_of(child.get("endpoint"))
            return access.need(scope, child.get("path_params", {})) if access else Need()
    return Need()  # unknown path or method: any credential, then the app's 404/405


def _query_value(scope: AsgiScope, key: str) -> str | None:
    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if k == key:
            return v
    return None


class AccessMiddleware:
    """Let a /v2/ request through only with what its route needs."""

    def __init__(self, app: ASGIApp, auth: Authenticator, routes: Sequence[BaseRoute]) -> None:
        check_routes(routes)
        self.app = app
        self.auth = auth
        self.routes = routes

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_v2(scope["path"]):
            await self.app(scope, receive, send)
            return
        decision = await self.auth.authorize(scope, need_of(self.routes, scope))
        if isinstance(decision, Identity):
            scope[IDENTITY_KEY] = decision
            await self.app(scope, receive, send)
            return
        response = error_response(decision.code, decision.message, decision.status, decision.detail,
                                  dict(decision.headers or {}), head=scope.get("method") == "HEAD")
        await response(scope, receive, send)
