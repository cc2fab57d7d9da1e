"""The `sealedreg` command. Thin: it parses, calls library code, and prints.

Errors are one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg import __version__
from sealedreg.config import ConfigError, load


DATA_OPTION = click.option("--data", type=click.Path(path_type=Path),
                           help="data directory [default: ./sealedreg-data]")
CONFIG_OPTION = click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file")


@click.group()
@click.version_option(__version__, prog_name="sealedreg")
def main() -> None:
    """sealedreg: an OCI registry that keeps images encrypted on IPFS."""


@main.command()
@click.option("--listen", help="HOST:PORT to listen on [default: 127.0.0.1:5000]")
@DATA_OPTION
@CONFIG_OPTION
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), help="log level")
@click.option("--ipfs-api", help="store in this Kubo node (RPC API URL) instead of the embedded store")
@click.option("--auth", type=click.Choice(["none", "token", "basic"]),
              help="auth mode [default: token when a users file exists, else none]")
@click.option("--insecure-no-auth", is_flag=True, default=None,
              help="allow serving without auth on a non-loopback address")
def serve(listen: str | None, data: Path | None, config_file: Path | None, log_level: str | None,
          ipfs_api: str | None, auth: str | None, insecure_no_auth: bool | None) -> None:
    """Run the registry (embedded store unless configured otherwise)."""
    config = _load(config_file, listen=listen, data=data, log_level=log_level, ipfs_api=ipfs_api, auth=auth,
                   insecure_no_auth=insecure_no_auth)
    from sealedreg.wiring import load_domains
    from sealedreg.auth.service import AuthConfigError
    from sealedreg.crypto.protected_files import SecretFileError
    from sealedreg.server import serve as run

    try:
        load_domains(config)  # fail before listening, in one line
    except SecretFileError as exc:
        raise click.ClickException(str(exc)) from None

    try:
        run(config)
    except AuthConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _load(config_file: Path | None, **overrides: object):
    try:
        return load(config_file, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _split_ref(ref: str) -> tuple[str, str]:
    """`repo:tag` or `repo@digest` (a bare repo means `:latest`)."""
    if "@" in ref:
        repo, _, reference = ref.partition("@")
    else:
        slash = ref.rfind("/")
        colon = ref.rfind(":")
        repo, reference = (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, "latest")
    return repo, reference


def _check(validate, value: str) -> None:
    """Run a name check; its error reads like every other CLI error."""
    from sealedreg.registry.errors import RegistryError

    try:
        validate(value)
    except RegistryError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None


def _run_async(coro):
    import asyncio

    from sealedreg.registry.errors import RegistryError

    from sealedreg.storage.base import StorageError

    try:
        return asyncio.run(coro)
    except RegistryError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    except StorageError as exc:
        raise click.ClickException(f"storage: {exc}") from None


def _on_registry(config, fn, readonly: bool = False):
    """Open the registry the config describes, run `await fn(registry)`, close it.

    Every error a user can cause (bad config, key or secret files, a refused
    transfer, a registry error) becomes one line on stderr and exit 1.
    """
    from sealedreg.crypto.keys import KeyError_
    from sealedreg.crypto.protected_files import SecretFileError
    from sealedreg.registry.transfer import TransferError
    from sealedreg.wiring import open_registry

    async def go():
        try:
            registry = open_registry(config, readonly=readonly)
        except (ConfigError, KeyError_, SecretFileError) as exc:
            raise click.ClickException(str(exc)) from None
        try:
            return await fn(registry)
        except (TransferError, OSError) as exc:
            raise click.ClickException(str(exc)) from None
        finally:
            await registry.close()

    return _run_async(go())


def _registry_command(config_file: Path | None, data: Path | None, fn):
    return _on_registry(_load(config_file, data=data), fn)


@main.command()
@DATA_OPTION
@CONFIG_OPTION
@click.option("--ipfs-api", help="the Kubo node the registry stores in (when it does)")
@click.argument("ref")
def inspect(data: Path | None, config_file: Path | None, ipfs_api: str | None, ref: str) -> None:
    """Show where an image's manifest and blobs are stored: REPO[:TAG|@DIGEST].

    Works on the data directory of a stopped or a running server.
    """
    import json

    from sealedreg.registry.refs import validate_name

    repo, reference = _split_ref(ref)
    _check(validate_name, repo)
    doc = _on_registry(_load(config_file, data=data, ipfs_api=ipfs_api),
                       lambda registry: registry.describe(repo, reference), readonly=True)
    click.echo(json.dumps(doc, indent=2))


@main.command("org-secret")
@click.argument("path", type=click.Path(path_type=Path))
def org_secret(path: Path) -> None:
    """Create a new 32-byte org secret file (mode 0600) for a namespace's dedupe domain."""
    from sealedreg.crypto.protected_files import SecretFileError, create_secret

    try:
        create_secret(path)
    except (SecretFileError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path}; name it as org_secret under [namespaces.\"<namespace>\"] in sealedreg.toml")


@main.command("export")
@DATA_OPTION
@CONFIG_OPTION
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="CAR file to write")
@click.option("--ipfs-api", help="the Kubo node the registry stores in (when it does)")
@click.option("--index-only", is_flag=True, help="write only the index: the blocks are fetched over IPFS on import")
@click.argument("ref")
def export_cmd(data: Path | None, config_file: Path | None, output: Path, ipfs_api: str | None,
               index_only: bool, ref: str) -> None:
    """Write an image REPO[:TAG|@DIGEST] and its ciphertext DAGs to a CAR file."""
    import json

    from sealedreg.registry.refs import validate_name
    from sealedreg.registry.transfer import export_image

    repo, reference = _split_ref(ref)
    _check(validate_name, repo)
    summary = _on_registry(_load(config_file, data=data, ipfs_api=ipfs_api),
                           lambda registry: export_image(registry, repo, reference, output,
                                                         with_blocks=not index_only), readonly=True)
    click.echo(json.dumps({k: summary[k] for k in ("car", "root", "blocks", "repository", "digest")}, indent=2))


@main.command("import")
@DATA_OPTION
@CONFIG_OPTION
@click.option("--ipfs-api", help="store in this Kubo node (RPC API URL)")
@click.argument("car", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def import_cmd(data: Path | None, config_file: Path | None, ipfs_api: str | None, car: Path) -> None:
    """Load a CAR written by `sealedreg export`; every blob is verified first."""
    import json

    from sealedreg.registry.transfer import import_car

    summary = _on_registry(_load(config_file, data=data, ipfs_api=ipfs_api), lambda registry: import_car(registry, car))
    click.echo(json.dumps({k: summary[k] for k in ("blocks", "repository", "tag", "digest")}, indent=2))


@main.command()
@DATA_OPTION
@CONFIG_OPTION
@click.option("--ipfs-api", help="store in this Kubo node (RPC API URL)")
@click.argument("namespace")
def publish(data: Path | None, config_file: Path | None, ipfs_api: str | None, namespace: str) -> None:
    """Build NAMESPACE's tree (DESIGN §5) from the registry and print its root CID.

    On the Kubo backend the tree is pinned and mounted in MFS at
    /sealedreg/NAMESPACE. (DNSLink and IPNS publication come next.)
    """
    import json

    from sealedreg.registry.refs import validate_name

    _check(validate_name, namespace)
    if "/" in namespace:
        raise click.ClickException(f"{namespace!r} is a repository, not a namespace")
    result = _on_registry(_load(config_file, data=data, ipfs_api=ipfs_api),
                          lambda registry: registry.build_tree(namespace))
    click.echo(json.dumps(result, indent=2))


# -- keys and private repositories ------------------------------------------------
@main.command()
@click.option("--name", required=True, help="the organisation (its namespace domain, e.g. example.com)")
@click.option("--keys", "keys_dir", type=click.Path(path_type=Path), default=Path("keys"), show_default=True,
              help="directory for NAME.key (0600) and NAME.pub")
@click.option("--force", is_flag=True, help="replace existing key files")
def keygen(name: str, keys_dir: Path, force: bool) -> None:
    """Make an organisation's signing and box keys; print the TXT record to publish."""
    from sealedreg.crypto.keys import KeyError_, OrgKeys, write_keys

    try:
        keys = OrgKeys.generate(name)
        private, public = write_keys(keys, keys_dir, force=force)
    except (KeyError_, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {private} (keep it secret) and {public}")
    click.echo("publish in DNS:")
    click.echo(f'_sealedreg.{name}. IN TXT "{keys.public.txt_record()}"')


@main.command()
@DATA_OPTION
@CONFIG_OPTION
@click.option("--recipient", required=True, help="x25519:<base64>, a .pub file, or a domain (keys from its DNS)")
@click.option("--dns-server", help="HOST:PORT of the DNS server to ask (default: the system resolver)")
@click.argument("repo")
def grant(data: Path | None, config_file: Path | None, recipient: str, dns_server: str | None, repo: str) -> None:
    """Let RECIPIENT open a private repository: re-seal its envelope to include it."""
    from sealedreg.crypto.keys import KeyError_
    from sealedreg.crypto.recipients import resolve

    try:
        label, key = resolve(recipient, dns_server)
    except (KeyError_, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    result = _registry_command(config_file, data, lambda reg: reg.grant(repo, key))
    click.echo(f"granted {label} on {repo}; tree {result['root']} (seq {result['seq']})")


@main.command()
@DATA_OPTION
@CONFIG_OPTION
@click.option("--recipient", required=True, help="x25519:<base64>, a .pub file, a domain, or kid:<16 hex>")
@click.option("--dns-server", help="HOST:PORT of the DNS server to ask (default: the system resolver)")
@click.option("--rotate", is_flag=True, help="also move the repository's future layers to a fresh org secret")
@click.argument("repo")
def revoke(data: Path | None, config_file: Path | None, recipient: str, dns_server: str | None, rotate: bool,
           repo: str) -> None:
    """Stop sealing a private repository to RECIPIENT. What it already fetched, it keeps."""
    from sealedreg.crypto.keys import KeyError_, kid
    from sealedreg.crypto.recipients import resolve

    if recipient.startswith("kid:"):
        recipient_kid = recipient[4:]
    else:
        try:
            recipient_kid = kid(bytes(resolve(recipient, dns_server)[1]))
        except (KeyError_, OSError) as exc:
            raise click.ClickException(str(exc)) from None
    result = _registry_command(config_file, data, lambda reg: reg.revoke(repo, recipient_kid, rotate=rotate))
    click.echo(f"revoked {recipient_kid} on {repo}{' and rotated its org secret' if rotate else ''}; "
               f"tree {result['root']} (seq {result['seq']})")


@main.command()
@DATA_OPTION
@CONFIG_OPTION
@click.argument("repo")
def grants(data: Path | None, config_file: Path | None, repo: str) -> None:
    """List the key ids a private repository is sealed to (the organisation's first)."""
    for k in _registry_command(config_file, data, lambda reg: reg.recipients(repo)):
        click.echo(k)


@main.command("open")
@click.option("--key", "key_file", type=click.Path(path_type=Path), required=True, help="your NAME.key")
@click.option("--publisher", required=True, help="the publisher: ed25519:<base64>, its .pub file, or its domain")
@click.option("--dns-server", help="HOST:PORT of the DNS server to ask (default: the system resolver)")
@click.option("--min-seq", type=int, default=0, help="refuse envelopes older than this sequence number")
@click.option("--repo", required=True, help="the private repository the envelope must be for")
@click.argument("envelope", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def open_cmd(key_file: Path, publisher: str, dns_server: str | None, min_seq: int, repo: str,
             envelope: Path) -> None:
    """Verify and open a sealed envelope as one of its recipients; print its contents."""
    import json

    from nacl.signing import VerifyKey

    from sealedreg.crypto.envelope import EnvelopeError, open_envelope
    from sealedreg.crypto.keys import KeyError_, load_keys, load_public, parse_tagged
    from sealedreg.crypto.protected_files import SecretFileError

    try:
        keys = load_keys(key_file)
        if publisher.startswith("ed25519:"):
            verify_key = VerifyKey(parse_tagged(publisher, "ed25519"))
        elif publisher.endswith(".pub"):
            verify_key = load_public(Path(publisher)).sig
        else:
            from sealedreg.publish.dns import DnsError, org_keys

            try:
                verify_key = org_keys(publisher, dns_server).sig
            except DnsError as exc:
                raise KeyError_(str(exc)) from None
        from sealedreg.registry.domains import namespace_of

        opened = open_envelope(envelope.read_bytes(), publisher=verify_key, recipient=keys,
                               namespace=namespace_of(repo), repo=repo, min_seq=min_seq)
    except (KeyError_, SecretFileError, EnvelopeError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps({"namespace": opened.namespace, "seq": opened.seq, "recipients": opened.recipients,
                           **opened.payload}, indent=2))


@main.group()
def user() -> None:
    """Manage the users who may log in (a bcrypt htpasswd file, `htpasswd -B` compatible)."""


def _users_path(config_file: Path | None, data: Path | None) -> Path:
    return _load(config_file, data=data).users_path


@user.command("add")
@DATA_OPTION
@CONFIG_OPTION
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--replace", is_flag=True, help="set a new password for an existing user")
@click.argument("name")
def user_add(data: Path | None, config_file: Path | None, password_stdin: bool, replace: bool, name: str) -> None:
    """Add user NAME (password from --password-stdin or a prompt)."""
    from sealedreg.auth.users import UsersFileError, add_user, validate_user_name

    path = _users_path(config_file, data)
    try:
        validate_user_name(name)
        if password_stdin:
            password = click.get_text_stream("stdin").readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        new = add_user(path, name, password, replace=replace)
    except (UsersFileError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'added' if new else 'updated'} user {name} in {path}")


@user.command("remove")
@DATA_OPTION
@CONFIG_OPTION
@click.argument("name")
def user_remove(data: Path | None, config_file: Path | None, name: str) -> None:
    """Remove user NAME (their tokens expire; refresh tokens stop working at once)."""
    from sealedreg.auth.users import UsersFileError, remove_user

    path = _users_path(config_file, data)
    try:
        remove_user(path, name)
    except (UsersFileError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"removed user {name} from {path}")


@user.command("list")
@DATA_OPTION
@CONFIG_OPTION
def user_list(data: Path | None, config_file: Path | None) -> None:
    """List the users, one per line (with their groups from the config)."""
    from sealedreg.auth.users import UsersFileError, list_users

    config = _load(config_file, data=data)
    try:
        names = list_users(config.users_path)
    except (UsersFileError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    for name in names:
        groups = sorted(g for g, members in config.groups.items() if name in members)
        click.echo(f"{name}\t{','.join(groups)}" if groups else name)
