"""The server's composition root, and running it under uvicorn: config →
policy → auth and registry, each built once, handed to the app; print where
it listens and how it authenticates; drain on SIGTERM."""

from __future__ import annotations

import signal
import sys
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette

from sealedreg.api.app import build_app
from sealedreg.auth.startup import start_auth
from sealedreg.config import Config
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
    configure_logging(config.log_level, policy.is_private)
    server = assemble(config, policy)
    print(f"sealedreg listening on http://{config.listen} (store: {config.store}, data: {config.data.resolve()})",
          flush=True)
    print(server.auth_line, flush=True)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, restores the previous
    # handlers and re-raises the signal; these handlers turn that into exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        server.app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        log_config=None,  # ours (sealedreg.logs): every record redacted
        access_log=config.access_log,
        timeout_graceful_shutdown=config.graceful_timeout,
        server_header=False,
        h11_max_incomplete_event_size=64 * 1024,
    )


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)

