"""`sealedreg publish` and `sealedreg resolve`: a namespace as the world sees it."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.cli.common import DNS_SERVER, JSON, example, load_config, on_registry, print_json, progress, \
    registry_options, user_errors
from sealedreg.registry.publishing import Announce, PublishTarget
from sealedreg.registry.refs import validate_name


def _namespace(namespace: str) -> str:
    with user_errors():
        validate_name(namespace)
    if "/" in namespace:
        raise click.ClickException(f"{namespace!r} is a repository, not a namespace")
    return namespace


@click.command(epilog=example("sealedreg publish acme.test --dns-server ns1.acme.test:53 --tsig-key acme.tsig",
                              "sealedreg publish acme.test --print --config sealedreg.toml"))
@registry_options
@click.option("--dns-server", help="HOST:PORT of the DNS primary to update (RFC 2136) [default: dns_server]")
@click.option("--tsig-key", type=click.Path(path_type=Path),
              help="TSIG key file (BIND `key \"NAME\" { algorithm …; secret …; };` or knot) [default: tsig_key]")
@click.option("--ipns", is_flag=True, help="point DNSLink at the org key's IPNS name, then publish by IPNS record")
@click.option("--print", "print_only", is_flag=True, help="only print the records, for a manual DNS setup")
@click.option("--ttl", type=click.IntRange(1, 86400), help="TTL of the records [default: dns_ttl]")
@click.option("--force", is_flag=True, help="overwrite a _dnslink record that this registry did not write")
@JSON
@click.argument("namespace")
def publish(data: Path | None, config_file: Path | None, ipfs_api: str | None, dns_server: str | None,
            tsig_key: Path | None, ipns: bool, print_only: bool, ttl: int | None, force: bool, as_json: bool,
            namespace: str) -> None:
    """Build NAMESPACE's signed tree and publish it: DNSLink by RFC 2136
    dynamic update (or --ipns), with the keys and discovery hints beside it.
    Prints JSON (with or without --json): namespace, root, seq, expires,
    entries, changed, and when published dnslink, records, dns (and ipns,
    zone); progress on stderr when it is a terminal.

    Without a DNS server or --print, only the tree is built (and, on Kubo,
    pinned and mounted in MFS at /sealedreg/NAMESPACE).
    """
    namespace = _namespace(namespace)
    config = load_config(config_file, data=data, ipfs_api=ipfs_api, dns_server=dns_server, tsig_key=tsig_key)
    server = dns_server or config.dns_server or None
    key = tsig_key or config.tsig_key
    if server and key is None and not print_only:
        raise click.ClickException("--tsig-key is needed to update DNS (or --print to only show the records)")
    target = PublishTarget(server if key else None, key, ipns, ttl or config.dns_ttl, print_only, force,
                           config.federation_timeout)
    announce = Announce(config.public_url, config.ipfs_announce)
    with progress(f"publishing {namespace}", unit="steps") as bar:
        result = on_registry(config, lambda registry: registry.publish(namespace, target, announce, progress=bar))
    if print_only:
        result["zone"] = [f"{name}. {target.ttl} IN TXT {_quoted(value)}"
                          for name, values in result.get("records", {}).items() for value in values]
    print_json(result)


def _quoted(value: str) -> str:
    """A TXT value in zone-file syntax, split into 255-byte strings."""
    raw = value.encode()
    return " ".join('"' + raw[i:i + 255].decode().replace("\\", "\\\\").replace('"', '\\"') + '"'
                    for i in range(0, max(len(raw), 1), 255))


@click.command(epilog=example("sealedreg resolve acme.test --dns-server 127.0.0.1:5353 --json"))
@registry_options
@DNS_SERVER
@JSON
@click.argument("namespace")
def resolve(data: Path | None, config_file: Path | None, ipfs_api: str | None, dns_server: str | None,
            as_json: bool, namespace: str) -> None:
    """Look NAMESPACE up as a federated pull would: DNSLink, keys, hints, the
    tree's descriptor (verified against the key in DNS), and which private
    repositories this registry's own keys open. Exits 1 when the tree does
    not verify (the report is printed first)."""
    namespace = _namespace(namespace)
    config = load_config(config_file, data=data, ipfs_api=ipfs_api, dns_server=dns_server)
    report = on_registry(config, lambda registry: registry.federation.report(namespace))
    if as_json:
        print_json(report)
        _fail_unverified(namespace, report)
        return
    click.echo(f"{namespace}: {report['dnslink']} → tree {report['root']}")
    click.echo(f"  seq {report['seq']}, expires {report['expires']}, "
               f"{'verified' if report['verified'] else 'NOT verified: ' + report.get('error', '')}")
    click.echo(f"  keys: sig={report['keys']['sig']} box={report['keys']['box']}")
    for kind, values in report["hints"].items():
        for value in values:
            click.echo(f"  {kind}={value}")
    for entry in report["private"]:
        click.echo(f"  private {entry.get('repo', entry['envelope'])}: "
                   f"{'opens with ' + entry['key'] if entry['opens'] else 'not for us'}")
    _fail_unverified(namespace, report)


def _fail_unverified(namespace: str, report: dict) -> None:
    if not report["verified"]:
        raise click.ClickException(f"{namespace}: not verified: {report.get('error') or 'no error given'}")
