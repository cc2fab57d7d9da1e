"""`sealedreg inspect`, `export`, `import`: images on a data directory."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sealedreg.cli.common import load_config, on_registry, registry_options, split_ref
from sealedreg.registry.transfer import export_image, import_car


@click.command()
@registry_options
@click.argument("ref")
def inspect(data: Path | None, config_file: Path | None, ipfs_api: str | None, ref: str) -> None:
    """Show where an image's manifest and blobs are stored: REPO[:TAG|@DIGEST].

    Works on the data directory of a stopped or a running server.
    """
    repo, reference = split_ref(ref)
    doc = on_registry(load_config(config_file, data=data, ipfs_api=ipfs_api),
                      lambda registry: registry.describe(repo, reference), readonly=True)
    click.echo(json.dumps(doc, indent=2))


@click.command()
@registry_options
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="CAR file to write")
@click.option("--index-only", is_flag=True, help="write only the index: the blocks are fetched over IPFS on import")
@click.argument("ref")
def export(data: Path | None, config_file: Path | None, ipfs_api: str | None, output: Path, index_only: bool,
           ref: str) -> None:
    """Write an image REPO[:TAG|@DIGEST] and its ciphertext DAGs to a CAR file."""
    repo, reference = split_ref(ref)
    summary = on_registry(load_config(config_file, data=data, ipfs_api=ipfs_api),
                          lambda registry: export_image(registry, repo, reference, output, with_blocks=not index_only),
                          readonly=True)
    click.echo(json.dumps({k: summary[k] for k in ("car", "root", "blocks", "repository", "digest")}, indent=2))


@click.command("import")
@registry_options
@click.argument("car", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def import_(data: Path | None, config_file: Path | None, ipfs_api: str | None, car: Path) -> None:
    """Load a CAR written by `sealedreg export`; every blob is verified first."""
    summary = on_registry(load_config(config_file, data=data, ipfs_api=ipfs_api),
                          lambda registry: import_car(registry, car))
    click.echo(json.dumps({k: summary[k] for k in ("blocks", "repository", "tag", "digest")}, indent=2))
