"""`sealedreg inspect`, `export`, `import`: images on a data directory."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.cli.common import JSON, example, load_config, on_registry, print_json, progress, registry_options, \
    split_ref
from sealedreg.registry.transfer import export_image, import_car


@click.command(epilog=example("sealedreg inspect --data /var/lib/sealedreg example.com/app:1.0"))
@registry_options
@JSON
@click.argument("ref")
def inspect(data: Path | None, config_file: Path | None, ipfs_api: str | None, as_json: bool, ref: str) -> None:
    """Show where an image's manifest and blobs are stored: REPO[:TAG|@DIGEST].
    Prints JSON (with or without --json).

    Works on the data directory of a stopped or a running server.
    """
    repo, reference = split_ref(ref)
    doc = on_registry(load_config(config_file, data=data, ipfs_api=ipfs_api),
                      lambda registry: registry.describe(repo, reference), readonly=True)
    print_json(doc)


@click.command(epilog=example("sealedreg export --data /var/lib/sealedreg example.com/app:1.0 -o app.car",
                              "sealedreg export --index-only example.com/app:1.0 -o app-index.car"))
@registry_options
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="CAR file to write")
@click.option("--index-only", is_flag=True, help="write only the index: the blocks are fetched over IPFS on import")
@JSON
@click.argument("ref")
def export(data: Path | None, config_file: Path | None, ipfs_api: str | None, output: Path, index_only: bool,
           as_json: bool, ref: str) -> None:
    """Write an image REPO[:TAG|@DIGEST] and its ciphertext DAGs to a CAR file.
    Prints JSON: car, root, blocks, repository, digest (with or without
    --json); a progress bar on stderr when it is a terminal."""
    repo, reference = split_ref(ref)
    config = load_config(config_file, data=data, ipfs_api=ipfs_api)
    with progress(f"exporting {repo}:{reference}") as bar:
        summary = on_registry(config, lambda registry: export_image(registry, repo, reference, output,
                                                                    with_blocks=not index_only, progress=bar),
                              readonly=True)
    print_json({k: summary[k] for k in ("car", "root", "blocks", "repository", "digest")})


@click.command("import", epilog=example("sealedreg import --data /var/lib/sealedreg app.car"))
@registry_options
@JSON
@click.argument("car", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def import_(data: Path | None, config_file: Path | None, ipfs_api: str | None, as_json: bool, car: Path) -> None:
    """Load a CAR written by `sealedreg export`; every blob is verified first.
    Prints JSON: blocks, repository, tag, digest (with or without --json); a
    progress bar on stderr when it is a terminal."""
    config = load_config(config_file, data=data, ipfs_api=ipfs_api)
    with progress(f"importing {car.name}", total=car.stat().st_size) as bar:
        summary = on_registry(config, lambda registry: import_car(registry, car, progress=bar))
    print_json({k: summary[k] for k in ("blocks", "repository", "tag", "digest")})
