"""`sealedreg keygen` and `org-secret`: an organisation's keys and secrets."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.cli.common import user_errors
from sealedreg.crypto.keys import OrgKeys
from sealedreg.protected_files import create_secret
from sealedreg.publish.keyfiles import write_keys
from sealedreg.publish.records import RECORD_PREFIX, keys_record


@click.command()
@click.option("--name", required=True, help="the organisation (its namespace domain, e.g. example.com)")
@click.option("--keys", "keys_dir", type=click.Path(path_type=Path), default=Path("keys"), show_default=True,
              help="directory for NAME.key (0600) and NAME.pub")
@click.option("--force", is_flag=True, help="replace existing key files")
def keygen(name: str, keys_dir: Path, force: bool) -> None:
    """Make an organisation's signing and box keys; print the TXT record to publish."""
    with user_errors():
        keys = OrgKeys.generate(name)
        private, public = write_keys(keys, keys_dir, force=force)
    click.echo(f"wrote {private} (keep it secret) and {public}")
    click.echo("publish in DNS:")
    click.echo(f'{RECORD_PREFIX}{name}. IN TXT "{keys_record(keys.public)}"')


@click.command("org-secret")
@click.argument("path", type=click.Path(path_type=Path))
def org_secret(path: Path) -> None:
    """Create a new 32-byte org secret file (mode 0600) for a namespace's dedupe domain."""
    with user_errors():
        create_secret(path)
    click.echo(f"wrote {path}; name it as org_secret under [namespaces.\"<namespace>\"] in sealedreg.toml")
