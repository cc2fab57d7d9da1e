"""Run the registry under uvicorn: print where it listens, drain on SIGTERM."""

from __future__ import annotations

import logging

import uvicorn

from sealedreg.api.app import build_app
from sealedreg.config import Config


def serve(config: Config) -> None:
    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = build_app(config)
    print(f"sealedreg listening on http://{config.listen} (store: {config.store}, data: {config.data.resolve()})",
          flush=True)
    uvicorn.run(
        app,
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        access_log=config.access_log,
        timeout_graceful_shutdown=config.graceful_timeout,
        server_header=False,
        h11_max_incomplete_event_size=64 * 1024,
    )
