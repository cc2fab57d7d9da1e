"""What every `sealedreg` command shares: the options that locate a registry,
the one mapping of library errors to one-line CLI errors, and running a
command against an opened registry."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Awaitable, Callable, Iterator, TypeVar

import click

from sealedreg.auth.users import UsersFileError
from sealedreg.config import Config, ConfigError, load
from sealedreg.crypto.envelope import EnvelopeError
from sealedreg.crypto.keys import KeyError_
from sealedreg.crypto.signed import SignatureError
from sealedreg.protected_files import SecretFileError
from sealedreg.publish.builder import TreeError
from sealedreg.publish.dns import DnsError
from sealedreg.publish.dnsupdate import DnsUpdateError
from sealedreg.publish.resolver import ResolveError
from sealedreg.registry.errors import RegistryError
from sealedreg.registry.refs import validate_name
from sealedreg.registry.transfer import TransferError
from sealedreg.storage.base import StorageError
from sealedreg.wiring import open_registry

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

DATA = click.option("--data", type=click.Path(path_type=Path), help="data directory [default: ./sealedreg-data]")
CONFIG = click.option("--config", "config_file", type=click.Path(path_type=Path), help="TOML config file")
IPFS_API = click.option("--ipfs-api", help="the Kubo node the registry stores in (its RPC API URL), "
                                           "instead of the embedded store")
DNS_SERVER = click.option("--dns-server", envvar="SEALEDREG_DNS_SERVER",
                          help="HOST:PORT of the DNS server to ask [default: dns_server, else the system resolver]")


def registry_options(command: F) -> F:
    """--data, --config and --ipfs-api: where the registry a command works on lives."""
    return DATA(CONFIG(IPFS_API(command)))


USER_ERRORS = (ConfigError, KeyError_, SecretFileError, UsersFileError, EnvelopeError,
               SignatureError, DnsError, DnsUpdateError, ResolveError, TransferError, TreeError, OSError)
"""Errors a user causes and can fix; their messages say what is wrong (never a secret)."""


@contextlib.contextmanager
def user_errors(*more: type[Exception]) -> Iterator[None]:
    """Turn a user-caused error (USER_ERRORS, and `more`) into one line on stderr and exit 1."""
    try:
        yield
    except RegistryError as exc:
        raise click.ClickException(f"{exc.code}: {exc.message}") from None
    except StorageError as exc:
        raise click.ClickException(f"storage: {exc}") from None
    except (*USER_ERRORS, *more) as exc:
        raise click.ClickException(str(exc)) from None


def load_config(config_file: Path | None, **overrides: object) -> Config:
    with user_errors():
        return load(config_file, overrides=overrides)


def on_registry(config: Config, fn: Callable[[Any], Awaitable[T]], readonly: bool = False) -> T:
    """Open the registry `config` describes, run `await fn(registry)`, close it."""
    async def run() -> T:
        registry = open_registry(config, readonly=readonly)
        try:
            return await fn(registry)
        finally:
            await registry.close()

    with user_errors():
        return asyncio.run(run())


def split_ref(ref: str) -> tuple[str, str]:
    """`repo:tag` or `repo@digest` (a bare repo means `:latest`); the name is checked."""
    if "@" in ref:
        repo, _, reference = ref.partition("@")
    else:
        slash, colon = ref.rfind("/"), ref.rfind(":")
        repo, reference = (ref[:colon], ref[colon + 1:]) if colon > slash else (ref, "latest")
    with user_errors():
        validate_name(repo)
    return repo, reference
