"""What every `sealedreg` command shares: the options that locate a registry,
the one mapping of library errors to one-line CLI errors, and running a
command against an opened registry."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Awaitable, Callable, Iterator, TextIO, TypeVar

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
JSON = click.option("--json", "as_json", is_flag=True,
                    help="print one JSON object on stdout (and nothing else there)")


def example(*lines: str) -> str:
    """A command's `epilog`: realistic invocations, kept as written (`\\b`: click does not re-wrap them)."""
    return "\b\nExample:\n" + "\n".join(f"  {line}" for line in lines)


def print_json(doc: dict) -> None:
    """A command's data on stdout: one JSON object, keys in a stable order."""
    click.echo(json.dumps(doc, indent=2, default=str))


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
    except sqlite3.DatabaseError as exc:  # not an index (a wrong --data), or one that cannot be opened
        raise click.ClickException(f"registry index: {exc}") from None
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


class Progress:
    """A progress bar on stderr (rich), for a terminal only: elsewhere every
    method does nothing, so output that is piped or logged stays clean, and
    stdout is never touched. Use it as a context manager; `advance(n)` (or
    calling it: it is the `progress` callback the library functions take)
    moves it on by `n` bytes or items."""

    def __init__(self, label: str, total: int | None = None, unit: str = "bytes",
                 stream: TextIO | None = None) -> None:
        self.label, self.total, self.unit = label, total, unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = bool(getattr(self.stream, "isatty", lambda: False)())
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> "Progress":
        if self.enabled:
            from rich.console import Console
            from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as Bar,
                                       SpinnerColumn, TextColumn, TimeElapsedColumn, TransferSpeedColumn)
            count = [DownloadColumn(), TransferSpeedColumn()] if self.unit == "bytes" else [MofNCompleteColumn()]
            self._bar = Bar(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), *count,
                            TimeElapsedColumn(), console=Console(file=self.stream, force_terminal=True),
                            transient=True, redirect_stdout=False, redirect_stderr=False)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    __call__ = advance

    def set_total(self, total: int | None) -> None:
        """Once the amount of work is known (None: unknown, an indeterminate bar)."""
        self.total = total
        if self._bar is not None:
            self._bar.update(self._task, total=total)


def progress(label: str, total: int | None = None, unit: str = "bytes", stream: TextIO | None = None) -> Progress:
    """`with progress("exporting") as bar: export_image(…, progress=bar)`: a bar
    on stderr when it is a terminal (`stream` for tests), else silent. `unit`
    "bytes" shows sizes and speed; anything else ("blobs", "steps") a count."""
    return Progress(label, total, unit, stream)
