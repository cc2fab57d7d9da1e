"""The server's composition root, and running it under uvicorn: config →
policy → auth and registry, each built once, handed to the app; print where
it listens and how it authenticates; drain on SIGTERM. With `metrics_listen`,
a second uvicorn server in the same process serves /metrics there."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

import uvicorn
from starlette.applications import Starlette

from sealedreg import allocator
from sealedreg.api.app import build_app
from sealedreg.api.errors import error_body
from sealedreg.api.observe import metrics_app
from sealedreg.auth.startup import start_auth
from sealedreg.config import Config, split_listen
from sealedreg.logs import configure as configure_logging
from sealedreg.registry.policy import Policy
from sealedreg.registry.domains import namespace_of
from sealedreg.registry.federation import federates
from sealedreg.wiring import federation_settings, load_policy, open_registry


@dataclass
class Server:
    """What `serve` runs: the app, and the line it prints about auth."""

    app: Starlette
    auth_line: str


def assemble(config: Config, policy: Policy | None = None) -> Server:
    """Everything `serve` needs, each part built once, checked before listening
    (AuthConfigError, KeyError_, SecretFileError, ConfigError)."""
    policy = policy if policy is not None else load_policy(config)
    # Repositories of federated namespaces count as private for anonymous access:
    # which of them another organisation sealed to this one is not known before
    # a pull resolves them, so an `anonymous_pull` glob must not open them all.
    settings = federation_settings(config)
    auth, auth_line = start_auth(config, lambda repo: policy.is_private(repo) or federates(
        settings, policy, namespace_of(repo)))
    registry = open_registry(config, starting=True, policy=policy)
    return Server(build_app(config, registry, auth), auth_line)


def serve(config: Config) -> None:
    """Assemble the registry (failing before listening on any bad setting) and serve it."""
    policy = load_policy(config)
    configure_logging(config.log_level, policy.is_private, config.log_format)
    if not allocator.tune():  # before any worker thread starts
        logging.getLogger("sealedreg").debug("the C library is not glibc: its allocator keeps its own settings")
    server = assemble(config, policy)
    say = _say(config)
    say(f"sealedreg listening on http://{config.listen} (store: {config.store}, data: {config.data.resolve()})")
    say(server.auth_line)
    if config.metrics_listen:
        say(f"metrics on http://{config.metrics_listen}/metrics")
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, restores the previous
    # handlers and re-raises the signal; these handlers turn that into exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    main = _MainServer(uvicorn.Config(
        server.app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        log_config=None,  # ours (sealedreg.logs): every record redacted
        # JSON logs have their own line per request (sealedreg.api.observe); text keeps uvicorn's
        access_log=config.access_log and config.log_format == "text",
        timeout_graceful_shutdown=config.graceful_timeout,
        server_header=False,
        h11_max_incomplete_event_size=64 * 1024,
        http=with_header_timeout(config.header_timeout),
    ))
    if config.metrics_listen:
        host, port = split_listen(config.metrics_listen)
        side = uvicorn.Config(metrics_app(), host=host, port=port, log_level=config.log_level, log_config=None,
                              access_log=False, lifespan="off", server_header=False, timeout_graceful_shutdown=1)
        # bound now: a taken port stops `serve` (exit 3, uvicorn's message) before the registry starts
        main.sidecars.append((_Sidecar(side), [side.bind_socket()]))
    main.run()


MAX_HEADERS = 64 * 1024
"""Bytes of request header fields accepted (names, values, separators); more: 431."""


def with_header_timeout(seconds: float) -> type[asyncio.Protocol]:
    """uvicorn's HTTP protocol, with a deadline on request headers: a client
    that opens a connection, or starts a request, and then trickles its
    headers (slowloris) is disconnected after `seconds` instead of holding a
    connection for ever. uvicorn itself only times out idle keep-alives.

    A request the HTTP parser refuses (malformed, or a request line over 64
    KiB) is answered, as every error, with the OCI JSON body, not uvicorn's
    plain text."""
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

    class HeaderDeadline(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None
        _header_bytes = 0
        _oversize = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and (self.cycle is None or self.cycle.response_complete):
                self._arm()  # the first bytes of the next request on a kept-alive connection
            super().data_received(data)

        def on_message_begin(self) -> None:
            self._header_bytes = 0
            super().on_message_begin()

        def on_header(self, name: bytes, value: bytes) -> None:
            # uvicorn keeps every header it is sent; past MAX_HEADERS the parser is
            # stopped (raising here is how httptools aborts) and 431 answered.
            self._header_bytes += len(name) + len(value) + 4
            if self._header_bytes > MAX_HEADERS:
                self._oversize = True
                raise ValueError("request headers too large")
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            self.transport.close()

        def send_400_response(self, msg: str) -> None:
            if self._oversize:
                status = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                body = error_body("UNSUPPORTED", f"request headers larger than {MAX_HEADERS} bytes")
            else:
                status = STATUS_LINE[400]
                body = error_body("UNSUPPORTED", "invalid HTTP request (malformed, or a request line over 64 KiB)")
            head = [status, *(b"%s: %s\r\n" % pair for pair in self.server_state.default_headers),
                    b"content-type: application/json\r\ncontent-length: %d\r\n" % len(body),
                    b"docker-distribution-api-version: registry/2.0\r\n",
                    b"x-request-id: %s\r\nconnection: close\r\n\r\n" % uuid.uuid4().hex.encode()]
            self.transport.write(b"".join([*head, body]))
            self.transport.close()

    return HeaderDeadline


def _say(config: Config) -> Callable[[str], None]:
    """Start-up lines: printed (text logs), or records like every other line (JSON logs)."""
    if config.log_format == "json":
        return logging.getLogger("sealedreg").info
    return lambda line: print(line, flush=True)


class _MainServer(uvicorn.Server):
    """The main listener; its `sidecars` (the metrics listener) run beside it, in
    the same loop, and stop when it stops. Only it handles signals."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.sidecars: list[tuple[uvicorn.Server, list[socket.socket]]] = []

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        tasks = [asyncio.create_task(s.serve(bound)) for s, bound in self.sidecars]
        try:
            await super().serve(sockets)
        finally:
            for s, _ in self.sidecars:
                s.should_exit = True
            await asyncio.gather(*tasks, return_exceptions=True)


class _Sidecar(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the main server's handlers stop both


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)

