"""`sealedreg grant`, `revoke`, `grants`, `open`: who may open a private repository."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.cli.common import DNS_SERVER, JSON, example, load_config, on_registry, print_json, \
    registry_options, user_errors
from sealedreg.crypto.keys import kid
from sealedreg.publish import recipients
from sealedreg.publish.keyfiles import load_keys
from sealedreg.publish.sealing import open_repository
from sealedreg.registry.domains import namespace_of


@click.command(epilog=example("sealedreg grant --config sealedreg.toml --recipient partner.org example.com/internal/app",
                              "sealedreg grant --recipient keys/partner.org.pub example.com/internal/app"))
@registry_options
@click.option("--recipient", required=True, help="x25519:<base64>, a .pub file, or a domain (keys from its DNS)")
@DNS_SERVER
@click.argument("repo")
def grant(data: Path | None, config_file: Path | None, ipfs_api: str | None, recipient: str,
          dns_server: str | None, repo: str) -> None:
    """Let RECIPIENT open a private repository: re-seal its envelope to include it."""
    config = load_config(config_file, data=data, ipfs_api=ipfs_api, dns_server=dns_server)
    with user_errors():
        label, key = recipients.recipient(recipient, config.dns_server or None)
    result = on_registry(config, lambda reg: reg.grant(repo, key))
    click.echo(f"granted {label} on {repo}; tree {result['root']} (seq {result['seq']})")


@click.command(epilog=example("sealedreg revoke --config sealedreg.toml --recipient partner.org --rotate "
                              "example.com/internal/app"))
@registry_options
@click.option("--recipient", required=True, help="x25519:<base64>, a .pub file, a domain, or kid:<16 hex>")
@DNS_SERVER
@click.option("--rotate", is_flag=True, help="also move the repository's future layers to a fresh org secret")
@click.argument("repo")
def revoke(data: Path | None, config_file: Path | None, ipfs_api: str | None, recipient: str,
           dns_server: str | None, rotate: bool, repo: str) -> None:
    """Stop sealing a private repository to RECIPIENT. What it already fetched, it keeps."""
    config = load_config(config_file, data=data, ipfs_api=ipfs_api, dns_server=dns_server)
    if recipient.startswith("kid:"):
        recipient_kid = recipient[4:]
    else:
        with user_errors():
            recipient_kid = kid(bytes(recipients.recipient(recipient, config.dns_server or None)[1]))
    result = on_registry(config, lambda reg: reg.revoke(repo, recipient_kid, rotate=rotate))
    click.echo(f"revoked {recipient_kid} on {repo}{' and rotated its org secret' if rotate else ''}; "
               f"tree {result['root']} (seq {result['seq']})")


@click.command(epilog=example("sealedreg grants --config sealedreg.toml example.com/internal/app",
                              "sealedreg grants --json example.com/internal/app"))
@registry_options
@JSON
@click.argument("repo")
def grants(data: Path | None, config_file: Path | None, ipfs_api: str | None, as_json: bool, repo: str) -> None:
    """List the key ids a private repository is sealed to (the organisation's
    first), one per line; --json: {"repository", "recipients"}."""
    kids = on_registry(load_config(config_file, data=data, ipfs_api=ipfs_api), lambda reg: reg.recipients(repo),
                       readonly=True)
    if as_json:
        print_json({"repository": repo, "recipients": list(kids)})
        return
    for k in kids:
        click.echo(k)


@click.command("open", epilog=example("sealedreg open sealed.json --key keys/partner.org.key --publisher example.com "
                                      "--repo example.com/internal/app"))
@click.option("--key", "key_file", type=click.Path(path_type=Path), required=True, help="your NAME.key")
@click.option("--publisher", required=True, help="the publisher: ed25519:<base64>, its .pub file, or its domain")
@DNS_SERVER
@click.option("--min-seq", type=int, default=0, help="refuse envelopes older than this sequence number")
@click.option("--repo", required=True, help="the private repository the envelope must be for")
@JSON
@click.argument("envelope", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def open_(key_file: Path, publisher: str, dns_server: str | None, min_seq: int, repo: str, as_json: bool,
          envelope: Path) -> None:
    """Verify and open a sealed envelope as one of its recipients; print its
    contents as JSON (with or without --json). Without the tree's index, every
    stanza is tried with your key (and with the key before your last rotation)."""
    with user_errors():
        opened = open_repository(envelope.read_bytes(), namespace=namespace_of(repo), repo=repo,
                                 publisher=recipients.publisher(publisher, dns_server),
                                 recipient=load_keys(key_file), min_seq=min_seq)
    print_json({"namespace": opened.namespace, "seq": opened.seq, "format": opened.version,
                "stanzas": opened.stanzas, **opened.payload})
