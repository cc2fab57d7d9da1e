"""`sealedreg fsck`: prove every stored blob, manifest and live tree."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from sealedreg.cli.common import load_config, on_registry, progress, registry_options, user_errors
from sealedreg.config import ConfigError
from sealedreg.datadir import DataDir
from sealedreg.registry.fsck import FsckReport, fsck as check


@click.command(epilog="""\b
Examples:
  sealedreg fsck --data /var/lib/sealedreg
  sealedreg fsck --repair --json --config sealedreg.toml""")
@registry_options
@click.option("--repair", is_flag=True, help="take damaged content out of use (never what verifies); "
                                             "a later push of the same blob heals it")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def fsck(data: Path | None, config_file: Path | None, ipfs_api: str | None, repair: bool, as_json: bool) -> None:
    """Check every stored blob and manifest (each block against its CID, the
    decrypted bytes against the digest) and every current or unexpired tree.

    Exit status: 0 when nothing damaged is left in use, 1 otherwise. Reads
    every byte stored: on a large registry, run it when the disk is quiet.
    """
    config = load_config(config_file, data=data, ipfs_api=ipfs_api)
    with user_errors():
        if not DataDir(config.data).index.exists():
            raise ConfigError(f"{config.data} is not a sealedreg data directory")
        with progress("checking", unit="blobs") as bar:
            report: FsckReport = on_registry(config, lambda registry: check(registry, repair, progress=bar))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        click.echo(f"checked {report.blobs} blobs and manifests ({report.bytes} bytes) and {report.trees} trees "
                   f"in {report.seconds:g} s: {len(report.damage) or 'nothing'} damaged")
        for repo, names in sorted(report.by_repository().items()):
            click.echo(f"{repo}: {', '.join(names)}")
        for d in report.damage:
            click.echo(f"  {d.kind} {d.name}: {d.reason}" + (f" → {d.repaired}" if d.repaired else ""))
    if not report.clean:
        sys.exit(1)
