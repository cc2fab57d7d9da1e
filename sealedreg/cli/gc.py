"""`sealedreg gc`: give back the storage of what nothing keeps any more."""

from __future__ import annotations

import json
from pathlib import Path

import click

from sealedreg.cli.common import load_config, on_registry, progress, registry_options, user_errors
from sealedreg.config import ConfigError, parse_duration
from sealedreg.datadir import DataDir
from sealedreg.registry.gc import GcError, GcReport, collect_garbage


def _grace(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None
    return seconds


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@click.command(epilog="""\b
Examples:
  sealedreg gc --dry-run --data /var/lib/sealedreg
  sealedreg gc --grace 10m --json --config sealedreg.toml""")
@registry_options
@click.option("--dry-run", is_flag=True, help="report what would be freed; free nothing (pushes go on meanwhile, "
                                              "so it is an estimate)")
@click.option("--grace", callback=_grace, metavar="DURATION",
              help="keep content pushed or linked this recently (90, 30s, 15m, 2h, 7d) [default: gc_grace, 1h]")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def gc(data: Path | None, config_file: Path | None, ipfs_api: str | None, dry_run: bool, grace: float | None,
       as_json: bool) -> None:
    """Delete (embedded store) or unpin (Kubo) content nothing references.

    Kept: every manifest of every repository, the blobs it references and its
    index children and referrers; every published tree that is current or not
    yet expired, and the blobs it links; anything pushed or linked within the
    grace period. Safe while `serve` runs on the same data directory: a push
    and the sweep take turns on a lock in it, so no push loses a blob.
    """
    config = load_config(config_file, data=data, ipfs_api=ipfs_api)
    seconds = config.gc_grace if grace is None else grace
    with user_errors(GcError):
        if not DataDir(config.data).index.exists():
            raise ConfigError(f"{config.data} is not a sealedreg data directory")
        with progress("collecting garbage", total=3, unit="steps") as bar:
            report: GcReport = on_registry(
                config, lambda registry: collect_garbage(registry, seconds, dry_run, step=lambda name: bar(1)))
    if as_json:
        click.echo(json.dumps(report.to_json(), indent=2))
        return
    verb = "would free" if dry_run else "freed"
    what = ("pinned root" if report.store == "kubo" else "block") + ("" if report.blocks == 1 else "s")
    click.echo(f"{verb} {report.blocks} {what}, {_size(report.bytes)} ({report.blobs} blobs, "
               f"{report.links} repository links, {report.trees} expired trees; grace {report.grace:g} s)")
    for name in report.unreadable:
        click.echo(f"warning: {name} could not be read: its repository kept all its blobs", err=True)
