"""What each request leaves behind: metrics, a request id, and (JSON logs) one
log line (docs/api.md "Metrics and health").

`Observe` wraps the app as an ASGI middleware. It streams: it never reads a
body, it counts the bytes of the ASGI messages going past. Every request is
labelled by the *template* of the route it reached (`/v2/{name}/blobs/{digest}`),
never by its path, so no repository name or digest reaches a metric; a path
no route matches is `unmatched`. The log line goes through the same
redaction as every record (`sealedreg.logs.Redactor`).

`/metrics` is served by the main listener to loopback callers only, or — with
`metrics_listen` — by a separate listener (`metrics_app`), and then not by the
main one at all.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from typing import Sequence

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealedreg import metrics
from sealedreg.api.errors import error_response
from sealedreg.auth.caller import identity_of

access_log = logging.getLogger("sealedreg.access")

UNMATCHED = "unmatched"
"""The route label of a request no route matches."""

REQUEST_ID = "x-request-id"
_SANE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The template of the route `scope` reaches (`/v2/{name}/tags/list`), or
    `unmatched`. A route matching the path but not the method (405) counts."""
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return _template(route)
        if match is Match.PARTIAL and partial is None:
            partial = route
    return _template(partial) if partial is not None else UNMATCHED


def _template(route: BaseRoute) -> str:
    if isinstance(route, Mount):
        return _CONVERTOR.sub(r"{\1}", route.path) + "/{path}"
    path = getattr(route, "path", None)
    return _CONVERTOR.sub(r"{\1}", path) if isinstance(path, str) else UNMATCHED


def request_id(scope: Scope) -> str:
    """The caller's `X-Request-Id` when it is sane (1-128 of `A-Za-z0-9._:-`), else a fresh one."""
    for key, value in scope.get("headers", ()):
        if key == b"x-request-id":
            text = value.decode("latin-1")
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class Observe:
    """Count, time and (with `log_requests`) log every HTTP request; echo its request id."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute], log_requests: bool = False) -> None:
        self.app = app
        self.routes = routes  # the app's live route list: routes added later are seen too
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        method = scope["method"] if scope["method"] in _METHODS else "other"
        route = route_template(self.routes, scope)
        bytes_in = bytes_out = 0
        status: int | None = None

        async def counting_receive() -> Message:
            nonlocal bytes_in
            message = await receive()
            if message["type"] == "http.request":
                bytes_in += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal bytes_out, status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            elif message["type"] == "http.response.body":
                bytes_out += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            # An exception before any response: the server answers 500 outside this middleware.
            self._record(scope, route, method, status or 500, bytes_in, bytes_out,
                         time.perf_counter() - started, rid)

    def _record(self, scope: Scope, route: str, method: str, status: int, bytes_in: int, bytes_out: int,
                duration: float, rid: str) -> None:
        metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
        metrics.HTTP_DURATION.labels(route, method, str(status)).observe(duration)
        if bytes_in:
            metrics.HTTP_BYTES_IN.labels(route, method).inc(bytes_in)
        if bytes_out:
            metrics.HTTP_BYTES_OUT.labels(route, method).inc(bytes_out)
        if not self.log_requests:
            return
        identity = identity_of(scope)
        access_log.info("%s %s %d", method, route, status, extra={"fields": {
            "method": method, "route": route, "status": status, "bytes_in": bytes_in, "bytes_out": bytes_out,
            "duration": round(duration, 6), "user": identity.subject if identity is not None else None,
            "request_id": rid,
        }})


# -- /metrics ---------------------------------------------------------------
def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


async def metrics_endpoint(request: Request) -> Response:
    """Every metric, in Prometheus' text format."""
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)


async def loopback_metrics(request: Request) -> Response:
    """`/metrics` on the main listener: for loopback callers only (a local
    Prometheus, an agent, a sidecar); anyone else is refused."""
    if not is_loopback(request.client.host if request.client else None):
        return error_response("DENIED", "metrics are served to loopback callers only (or set metrics_listen)",
                              403, head=request.method == "HEAD")
    return await metrics_endpoint(request)


def metrics_routes(metrics_listen: str) -> list[Route]:
    """The main app's `/metrics`: none when a separate listener serves it."""
    return [] if metrics_listen else [Route("/metrics", loopback_metrics, methods=["GET"])]


def metrics_app() -> Starlette:
    """The separate `metrics_listen` listener: `/metrics` to whoever reaches it."""
    return Starlette(routes=[Route("/metrics", metrics_endpoint, methods=["GET"])])
