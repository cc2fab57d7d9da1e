"""`sealedreg config check`: a config file checked as `serve` would load it."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Callable

import click

from sealedreg.auth.startup import TOKEN, AuthConfigError, resolve_mode, start_auth
from sealedreg.cli.common import JSON, USER_ERRORS, example, print_json
from sealedreg.config import Config, ConfigError, error_line, key_line, load
from sealedreg.protected_files import load_secret
from sealedreg.publish.dnsupdate import load_tsig_key
from sealedreg.publish.keyfiles import load_keys
from sealedreg.wiring import load_policy

Key = tuple[str | int, ...]


@click.group(epilog=example("sealedreg config check sealedreg.toml"))
def config() -> None:
    """Check configuration files (docs/configuration.md)."""


@config.command("check", epilog=example("sealedreg config check /etc/sealedreg.toml",
                                        "sealedreg config check --json sealedreg.toml"))
@JSON
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def check(as_json: bool, file: Path) -> None:
    """Check FILE as `serve` would load it, before it listens: every option
    known and valid, the key, secret, TSIG and users files it names usable,
    and auth allowed on its address (nothing is created, nothing is asked of
    the network). An error is one line naming the option and its line in
    FILE, and exits 1. Prints `FILE: ok`; with --json, the effective settings
    (defaults, overridden by the file, overridden by SEALEDREG_* variables)
    as JSON on stdout and `FILE: ok` on stderr."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise click.ClickException(f"config file {file} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"config file {file} cannot be read: {exc}") from None
    where = _Where(file, text)
    try:
        load(file, env={})  # the file alone, so that an error found is the file's
    except ConfigError as exc:
        raise where.error(exc) from None
    try:
        settings = load(file)  # and as `serve` sees it, with SEALEDREG_* from the environment
    except ConfigError as exc:
        raise click.ClickException(f"{file} with {_env_names(exc)}: {exc}") from None
    _check_files(settings, where)
    if as_json:
        print_json(_effective(settings))
    click.echo(f"{file}: ok", err=as_json)


class _Where:
    """Errors about FILE, as `FILE:LINE: message`."""

    def __init__(self, file: Path, text: str) -> None:
        self.file, self.text = file, text

    def error(self, exc: ConfigError) -> click.ClickException:
        return self.at(error_line(exc, self.text), str(exc))

    def at(self, line: int | None, message: str) -> click.ClickException:
        message = message.removeprefix(f"config file {self.file}: ")
        return click.ClickException(f"{self.file}:{line}: {message}" if line else f"{self.file}: {message}")

    def check(self, key: Key, fn: Callable[[], Any], *near: Key) -> None:
        """Run `fn`; a user-caused error in it is an error at `key`'s line (or,
        when the file does not set `key`, at the first of `near` it sets)."""
        try:
            fn()
        except (*USER_ERRORS, AuthConfigError) as exc:
            line = next((n for n in (key_line(self.text, k) for k in (key, *near)) if n is not None), None)
            raise self.at(line, f"{'.'.join(map(str, key))}: {exc}") from None


def _check_files(settings: Config, where: _Where) -> None:
    """What `serve` reads before it listens, item by item so an error has its
    option's line; then the same calls `serve` makes."""
    for ns, nsc in settings.namespaces.items():
        if nsc.org_secret is not None:
            where.check(("namespaces", ns, "org_secret"), lambda path=nsc.org_secret: load_secret(path))
        if nsc.keys is not None:
            where.check(("namespaces", ns, "keys"), lambda path=nsc.keys: load_keys(path))
    if settings.keys is not None:
        where.check(("keys",), lambda: load_keys(settings.keys))
    if settings.tsig_key is not None:
        where.check(("tsig_key",), lambda: load_tsig_key(settings.tsig_key))
    where.check(("namespaces",), lambda: load_policy(settings))
    # Auth as `serve` starts it, except that a missing token key is not made
    # here (serve makes one on first start): basic mode checks the rest.
    probe = settings
    if resolve_mode(settings) == TOKEN and not settings.token_key_path.exists():
        probe = dataclasses.replace(settings, auth="basic")
    where.check(("auth",), lambda: start_auth(probe), ("listen",), ("users_file",), ("token_key",))


def _env_names(exc: ConfigError) -> str:
    names = sorted(name for name in os.environ if name.startswith("SEALEDREG_"))
    if exc.key and f"SEALEDREG_{str(exc.key[0]).upper()}" in names:
        return f"the environment's SEALEDREG_{str(exc.key[0]).upper()}"
    return "the environment (" + (", ".join(names) or "no SEALEDREG_* variables") + ")"


def _effective(settings: Config) -> dict:
    """Every option's value as `serve` would use it; paths as strings; a
    password in a URL (`http://user:pass@kubo:5001`) replaced by `***`."""
    doc = dataclasses.asdict(settings)
    doc["users_file"] = settings.users_path
    doc["token_key"] = settings.token_key_path
    return {key: _USERINFO.sub(r"\1***@", value) if isinstance(value, str) else value for key, value in doc.items()}


_USERINFO = re.compile(r"^([a-z][a-z0-9+.-]*://)[^/@\s]*@", re.IGNORECASE)
