"""`sealedreg serve`: run the registry."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.auth.startup import AuthConfigError
from sealedreg.cli.common import example, load_config, registry_options, user_errors
from sealedreg.server import serve as run


@click.command(epilog=example("sealedreg serve --listen 127.0.0.1:5000 --data ./sealedreg-data",
                              "sealedreg serve --config /etc/sealedreg.toml --ipfs-api http://127.0.0.1:5001"))
@click.option("--listen", help="HOST:PORT to listen on [default: 127.0.0.1:5000]")
@registry_options
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="log level")
@click.option("--auth", type=click.Choice(["none", "token", "basic"]),
              help="auth mode [default: token when a users file exists, else none]")
@click.option("--insecure-no-auth", is_flag=True, default=None,
              help="allow serving without auth on a non-loopback address")
def serve(listen: str | None, data: Path | None, config_file: Path | None, ipfs_api: str | None,
          log_level: str | None, auth: str | None, insecure_no_auth: bool | None) -> None:
    """Run the registry (embedded store unless configured otherwise)."""
    config = load_config(config_file, listen=listen, data=data, log_level=log_level, ipfs_api=ipfs_api, auth=auth,
                         insecure_no_auth=insecure_no_auth)
    with user_errors(AuthConfigError):
        run(config)
