"""The route table, in one place, and the application's lifespan.

The app is handed what it serves — the config, the registry (the model's one
door) and the authenticator (None: auth off) — built once by
`sealedreg.wiring`; it builds nothing of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from typing import AsyncIterator

from starlette.applications import Starlette
from starlette.convertors import Convertor, register_url_convertor
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sealedreg.api import base, blobs, catalog, gateway, ipns, manifests, referrers, tags, token, ui, uploads
from sealedreg.api.limits import UploadSlots
from sealedreg.api.mirror import MirrorNamespace
from sealedreg.api import health
from sealedreg.api.observe import Observe, metrics_routes
from sealedreg.api.access import AccessMiddleware, check_routes
from sealedreg.api.errors import (
    error_response,
    integrity_error_handler,
    registry_error_handler,
    storage_error_handler,
    unexpected_error_handler,
)
from sealedreg.auth.authorize import TOKEN, Authenticator
from sealedreg.config import Config
from sealedreg.registry.browse import Browser
from sealedreg.registry.errors import IntegrityError, RegistryError
from sealedreg.registry.gc import collect_garbage
from sealedreg.registry.publishing import Announce, AutoPublisher, PublishTarget
from sealedreg.registry.service import Registry
from sealedreg.storage.base import StorageError

log = logging.getLogger("sealedreg")


class _AnyPath(Convertor[str]):
    """`{name:anypath}`: Starlette's `path` convertor (`.*`), line breaks included,
    so that a name with one reaches its endpoint and is refused there
    (NAME_INVALID; the browse page's 404) instead of matching no route."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("anypath", _AnyPath())

_REPOSITORY_ROUTES = {
    # /v2/<name>/… : {method: endpoint}; Starlette answers HEAD on every GET route.
    "blobs/uploads/": {"POST": uploads.start},
    "blobs/uploads": {"POST": uploads.start},
    "blobs/uploads/{session}": {"GET": uploads.status, "PATCH": uploads.patch, "PUT": uploads.put,
                                "DELETE": uploads.cancel},
    "blobs/{digest}": {"GET": blobs.get_or_head, "DELETE": blobs.delete},
    "manifests/{reference}": {"GET": manifests.get_or_head, "PUT": manifests.put, "DELETE": manifests.delete},
    "tags/list": {"GET": tags.list_tags},
    "referrers/{digest}": {"GET": referrers.list_referrers},
}

ROUTES = [
    Route("/v2/", base.version_check, methods=["GET"]),
    Route("/v2/_catalog", catalog.list_repositories, methods=["GET"]),
    *(Route(f"/v2/{{name:anypath}}/{tail}", endpoint, methods=[method])
      for tail, by_method in _REPOSITORY_ROUTES.items() for method, endpoint in by_method.items()),
    Route("/ipfs/{cid}", gateway.get_block, methods=["GET"]),
    Route("/ipns/{name}", ipns.gateway_record, methods=["GET"]),
    Route("/routing/v1/ipns/{name}", ipns.routing_record, methods=["GET"]),
    # the browse page: outside /v2/, it asks auth itself (Basic or anonymous) and shows what the viewer may pull
    Route("/ui", ui.home, methods=["GET"]),
    Route("/ui/", ui.overview, methods=["GET"]),
    Route("/ui/r/{name:anypath}", ui.repository, methods=["GET"]),
]

TOKEN_ROUTES = [Route("/token", token.token, methods=["GET", "POST"])]
"""The built-in token service, served in `auth = "token"` mode only."""


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    head = request.method == "HEAD"
    if exc.status_code == 405:
        return error_response("UNSUPPORTED", "method not allowed on this endpoint", 405, head=head,
                              headers={"Allow": _allowed(request)})
    if exc.status_code == 404:
        return error_response("UNSUPPORTED", "no such endpoint", 404, head=head)
    return error_response("UNKNOWN", exc.detail or "error", exc.status_code, head=head)


def _allowed(request: Request) -> str:
    """A 405's `Allow` (RFC 9110 §15.5.6): every method of every route matching
    the path. Starlette's names only the first route's, and a path's methods
    are spread over one route per method (`_REPOSITORY_ROUTES`)."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, Route) and route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


class ApiVersionHeader:
    """Every /v2/ response says which API it speaks (clients probe for it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: dict) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"docker-distribution-api-version", b"registry/2.0")]
            await send(message)

        await self.app(scope, receive, send_with_header)


def build_app(config: Config, registry: Registry, auth: Authenticator | None) -> Starlette:
    """The ASGI app serving `registry`; it closes the registry when it shuts down."""
    check_routes(ROUTES)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # One worker pool for all blocking work (file I/O, hashing, crypto),
        # sized so a few large pulls cannot starve uploads.
        asyncio.get_running_loop().set_default_executor(
            concurrent.futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="sealedreg"))
        expired = await registry.expire_uploads()
        if expired:
            log.info("expired %d stale upload sessions", expired)
        landing = await registry.recover_landings()
        if landing:
            log.info("storing %d blobs acknowledged before the last stop", landing)
        tasks = [asyncio.create_task(_expire_periodically(registry, config.upload_ttl))]
        if config.publish == "auto":
            tasks.append(asyncio.create_task(_auto_publisher(config, registry).run()))
        if config.gc_interval > 0:
            tasks.append(asyncio.create_task(_collect_periodically(registry, config.gc_interval, config.gc_grace)))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await registry.close(drain=config.graceful_timeout)

    app = Starlette(
        routes=[*ROUTES, *(TOKEN_ROUTES if auth is not None and auth.mode == TOKEN else []),
                # unauthenticated, outside /v2/: probes, and metrics (loopback only, or on metrics_listen)
                *health.ROUTES, *metrics_routes(config.metrics_listen)],
        exception_handlers={RegistryError: registry_error_handler, HTTPException: _http_error,
                            StorageError: storage_error_handler, IntegrityError: integrity_error_handler,
                            Exception: unexpected_error_handler},
        lifespan=lifespan,
    )
    app.state.registry = registry
    app.state.config = config
    app.state.upload_slots = UploadSlots(config.max_uploads_per_client, config.max_uploads)
    app.state.auth = auth
    app.state.browser = Browser(registry)
    if auth is not None:
        app.add_middleware(AccessMiddleware, auth=auth, routes=ROUTES)
    # Around auth (its refusals are counted; the caller it found is logged), inside the
    # mirror rewrite; it matches the app's live route list for route templates.
    app.add_middleware(Observe, routes=app.routes, log_requests=config.log_format == "json")
    app.add_middleware(MirrorNamespace, serves=registry.serves_namespace)
    app.add_middleware(ApiVersionHeader)
    return app


def _auto_publisher(config: Config, registry: Registry) -> AutoPublisher:
    """`publish = "auto"`: every configured namespace with keys, after changes and before expiry."""
    target = PublishTarget(config.dns_server, config.tsig_key, config.publish_ipns, config.dns_ttl,
                           timeout=config.federation_timeout)
    announce = Announce(config.public_url, config.ipfs_announce)
    owned = [ns for ns, nsc in config.namespaces.items() if nsc.keys is not None]
    auto = AutoPublisher(lambda ns: registry.publish(ns, target, announce), owned, config.publish_delay,
                         refresh=config.tree_lifetime / 4)
    registry.on_change = auto.touch
    return auto


async def _collect_periodically(registry: Registry, interval: float, grace: float) -> None:
    """`gc_interval`: the janitor. The first run waits a whole interval, so a
    restart loop never turns into a collection loop."""
    while True:
        await asyncio.sleep(interval)
        try:
            report = await collect_garbage(registry, grace)
            log.info("garbage collection freed %d blocks, %d bytes (%d blobs, %d expired trees) in %.1f s",
                     report.blocks, report.bytes, report.blobs, report.trees, report.seconds)
        except Exception:  # noqa: BLE001 - a janitor must not die
            log.exception("garbage collection failed")


async def _expire_periodically(registry: Registry, ttl: float) -> None:
    interval = max(min(ttl / 4, 3600.0), 1.0)
    while True:
        await asyncio.sleep(interval)
        try:
            await registry.expire_uploads()
        except Exception:  # noqa: BLE001 - a janitor must not die
            log.exception("upload expiry failed")
