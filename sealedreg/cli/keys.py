"""`sealedreg keygen` and `org-secret`: an organisation's keys and secrets."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.cli.common import example, load_config, on_registry, registry_options, user_errors
from sealedreg.crypto.keys import KeyError_, OrgKeys, check_key_name
from sealedreg.protected_files import create_secret
from sealedreg.publish.keyfiles import load_keys, write_keys
from sealedreg.publish.records import RECORD_PREFIX, keys_record


@click.command(epilog=example("sealedreg keygen --name example.com --keys keys",
                              "sealedreg keygen --rotate --name example.com --keys keys --config sealedreg.toml"))
@click.option("--name", required=True, help="the organisation (its namespace domain, e.g. example.com)")
@click.option("--keys", "keys_dir", type=click.Path(path_type=Path), default=Path("keys"), show_default=True,
              help="directory for NAME.key (0600) and NAME.pub")
@click.option("--force", is_flag=True, help="replace existing key files (the old keys are lost)")
@click.option("--rotate", is_flag=True,
              help="replace NAME's keys with new ones, keeping the old ones in NAME.key to countersign the "
                   "next trees, and re-seal every namespace of the registry (--data/--config) that uses them")
@registry_options
def keygen(name: str, keys_dir: Path, force: bool, rotate: bool, data: Path | None, config_file: Path | None,
           ipfs_api: str | None) -> None:
    """Make an organisation's signing and box keys; print the TXT record to publish.
    Rotation (--rotate) is described in docs/format.md §8.6."""
    if rotate and force:
        raise click.ClickException("--rotate keeps the old keys; --force would throw them away: choose one")
    with user_errors():
        check_key_name(name)
        if rotate:
            path = keys_dir / f"{name}.key"
            if not path.exists():
                raise KeyError_(f"{path} does not exist: there are no keys to rotate (run keygen without --rotate)")
            keys = load_keys(path).rotated()
        else:
            keys = OrgKeys.generate(name)
        private, public = write_keys(keys, keys_dir, force=force or rotate)
    if not rotate:
        click.echo(f"wrote {private} (keep it secret) and {public}")
    else:
        click.echo(f"rotated {name}: wrote {private} (keep it secret; it keeps the previous keys, which "
                   f"countersign the next trees and still open what was sealed to them) and {public}")
        _reseal(private, load_config(config_file, data=data, ipfs_api=ipfs_api))
    click.echo("publish in DNS:")
    click.echo(f'{RECORD_PREFIX}{name}. IN TXT "{keys_record(keys.public)}"')


def _reseal(key_file: Path, config) -> None:
    """Re-seal and re-sign every namespace of the registry whose keys are `key_file`."""
    namespaces = sorted(ns for ns, nsc in config.namespaces.items()
                        if nsc.keys is not None and nsc.keys.exists() and nsc.keys.samefile(key_file))
    if not namespaces:
        click.echo("no namespace of this registry uses these keys: a namespace that does is re-sealed "
                   "when it is next published")
        return

    async def reseal(registry) -> list[dict]:
        return [await registry.build_tree(ns) for ns in namespaces]

    for tree in on_registry(config, reseal):
        click.echo(f"re-sealed {tree['namespace']}: tree {tree['root']} (seq {tree['seq']}), signed by the new "
                   "key and countersigned by the old one")
    click.echo(f"next: `sealedreg publish {namespaces[0]}` to point DNS at it (an RFC 2136 publish updates "
               "_sealedreg too); restart `sealedreg serve` so it signs with the new key")


@click.command("org-secret", epilog=example("sealedreg org-secret secrets/example.com.secret"))
@click.argument("path", type=click.Path(path_type=Path))
def org_secret(path: Path) -> None:
    """Create a new 32-byte org secret file (mode 0600) for a namespace's dedupe domain."""
    with user_errors():
        create_secret(path)
    click.echo(f"wrote {path}; name it as org_secret under [namespaces.\"<namespace>\"] in sealedreg.toml")
