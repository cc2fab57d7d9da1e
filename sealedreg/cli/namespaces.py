"""`sealedreg publish`: a namespace's tree."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sealedreg.cli.common import load_config, on_registry, registry_options, user_errors
from sealedreg.registry.refs import validate_name


@click.command()
@registry_options
@click.argument("namespace")
def publish(data: Path | None, config_file: Path | None, ipfs_api: str | None, namespace: str) -> None:
    """Build NAMESPACE's tree (docs/format.md §6) from the registry and print its root CID.

    On the Kubo backend the tree is pinned and mounted in MFS at
    /sealedreg/NAMESPACE.
    """
    with user_errors():
        validate_name(namespace)
    if "/" in namespace:
        raise click.ClickException(f"{namespace!r} is a repository, not a namespace")
    result = on_registry(load_config(config_file, data=data, ipfs_api=ipfs_api),
                         lambda registry: registry.build_tree(namespace))
    click.echo(json.dumps(result, indent=2))
