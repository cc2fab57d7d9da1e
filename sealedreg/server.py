"""Run the registry under uvicorn: print where it listens and how it authenticates, drain on SIGTERM."""

from __future__ import annotations

import signal
import sys

import uvicorn

from sealedreg.api.app import build_app
from sealedreg.auth.service import startup_check
from sealedreg.config import Config
from sealedreg.logs import configure as configure_logging
from sealedreg.wiring import load_policy


def serve(config: Config) -> None:
    configure_logging(config.log_level, load_policy(config))
    auth_line = startup_check(config)  # AuthConfigError: refuse to start
    app = build_app(config)
    print(f"sealedreg listening on http://{config.listen} (store: {config.store}, data: {config.data.resolve()})",
          flush=True)
    print(auth_line, flush=True)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT, restores the previous
    # handlers and re-raises the signal; these handlers turn that into exit 0.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        app,
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
