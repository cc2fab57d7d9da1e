"""Auth at start-up: which mode is in force, the rule that keeps a registry
without auth on loopback, and the authenticator, built once
(docs/auth.md "Modes and the start-up rule").

When `auth` is not set it is `token` once a users file exists, else `none`;
without auth the server only listens on a loopback address unless told
`--insecure-no-auth`.
"""

from __future__ import annotations

import ipaddress
from typing import Callable, Iterable

from sealedreg.auth import users as userfile
from sealedreg.auth.acl import DEFAULT_RULES, Acl, Rule
from sealedreg.auth.authorize import BASIC, TOKEN, Authenticator
from sealedreg.auth.tokens import Tokens, load_or_create_key
from sealedreg.config import Config

NONE = "none"
MODES = (NONE, TOKEN, BASIC)


class AuthConfigError(ValueError):
    """Auth cannot be set up as configured; the message says what to do."""


def resolve_mode(config: Config) -> str:
    """The auth mode in force: the configured one, or `token` when a users file exists, else `none`."""
    mode = (config.auth or "").strip().lower()
    if mode and mode not in MODES:
        raise AuthConfigError(f"auth: unknown mode {config.auth!r} (available: {', '.join(MODES)})")
    if mode:
        return mode
    return TOKEN if config.users_path.exists() else NONE


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def build_acl(config: Config, is_private: Callable[[str], bool] = lambda repository: False) -> Acl:
    """The ACL the config describes; `is_private` keeps private repositories
    out of anonymous-pull globs."""
    if config.acl is None:
        rules: Iterable[Rule] = DEFAULT_RULES
    else:
        rules = [Rule(tuple(r.repositories), frozenset(r.actions), frozenset(r.users), frozenset(r.groups))
                 for r in config.acl]
    return Acl(tuple(rules), dict(config.groups), tuple(config.anonymous_pull), is_private)


def start_auth(config: Config, is_private: Callable[[str], bool] = lambda repository: False
               ) -> tuple[Authenticator | None, str]:
    """The authenticator (None when auth is off) and the line `serve` prints about auth.

    AuthConfigError when the server must not start: no auth on a non-loopback
    address (without --insecure-no-auth), a missing or too-open users file,
    an unusable token key. The token key is loaded (or made) here, once."""
    mode = resolve_mode(config)
    if mode == NONE:
        if is_loopback(config.host):
            return None, ("auth: off (no users file and no auth config): open to anyone who can reach "
                          f"{config.host}, a loopback address; add a user with `sealedreg user add NAME` to turn it on")
        if not config.insecure_no_auth:
            raise AuthConfigError(
                f"refusing to listen on {config.host} without auth: add a user with `sealedreg user add NAME` "
                f"(users file {config.users_path}), listen on a loopback address, or pass --insecure-no-auth")
        return None, (f"auth: OFF on {config.host} (--insecure-no-auth): "
                      "anyone who can reach it can push, pull and delete")
    try:
        names = userfile.read_users(config.users_path)
    except userfile.UsersFileError as exc:
        raise AuthConfigError(f"auth = {mode}: {exc}; add a user with `sealedreg user add NAME`") from None
    tokens = None
    line = f"auth: basic ({len(names)} users)"
    if mode == TOKEN:
        try:
            key, created = load_or_create_key(config.token_key_path)
        except ValueError as exc:
            raise AuthConfigError(str(exc)) from None
        tokens = Tokens(key, config.auth_service, config.token_lifetime, config.refresh_token_lifetime)
        line = (f"auth: token ({len(names)} users, service {config.auth_service!r}, {'new ' if created else ''}"
                f"{key.alg} key {config.token_key_path}, kid {key.kid})")
    authenticator = Authenticator(mode, userfile.Users(config.users_path), build_acl(config, is_private), tokens,
                                  config.auth_service, config.auth_realm, f"{config.host}:{config.port}")
    return authenticator, line
