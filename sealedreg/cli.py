"""The `sealedreg` command. Thin: it parses, calls library code, and prints.

Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg import __version__
from sealedreg.config import ConfigError, load


@click.group()
@click.version_option(__version__, prog_name="sealedreg")
def main() -> None:
    """sealedreg: an OCI registry that keeps images encrypted on IPFS."""


@main.command()
@click.option("--listen", help="HOST:PORT to listen on [default: 127.0.0.1:5000]")
@click.option("--data", type=click.Path(path_type=Path), help="data directory [default: ./sealedreg-data]")
@click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="log level")
def serve(listen: str | None, data: Path | None, config_file: Path | None, log_level: str | None) -> None:
    """Run the registry (embedded store unless configured otherwise)."""
    try:
        config = load(config_file, overrides={"listen": listen, "data": data, "log_level": log_level})
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    from sealedreg.server import serve as run

    run(config)
