"""The authenticator: one object holding users, ACL, tokens and the throttle,
and the decision for one request — let it through (with an identity) or answer
it (401 / 403 / 429) — plus the start-up rule for when auth is on.

Modes (`auth` in the config):

* `token` — Docker token auth. `/v2/` answers 401 with
  `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; clients get a JWT
  from `/token` and present it. A valid token lacking the needed scope gets
  401 with `error="insufficient_scope"` and the scope it needs (RFC 6750).
* `basic` — every request carries HTTP Basic credentials; a user the ACL
  does not allow gets 403 `DENIED`.
* `none` — no auth at all (the behaviour of a registry with no users).

When `auth` is not set, it is `token` once a users file exists, else `none`;
and without auth the server only listens on a loopback address unless told
`--insecure-no-auth`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum
from typing import Any, Iterable

from anyio import to_thread
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Scope as AsgiScope

from sealedreg.api.errors import error_response
from sealedreg.auth import users as userfile
from sealedreg.auth.acl import ANONYMOUS, DEFAULT_RULES, Acl, Rule
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.auth.scopes import CATALOG, PULL, PUSH, REGISTRY, REPOSITORY, Scope, format_scopes, sort_actions
from sealedreg.auth.throttle import Throttle
from sealedreg.auth.tokens import Grant, TokenError, Tokens, load_or_create_key
from sealedreg.config import Config

log = logging.getLogger("sealedreg.auth")

NONE, TOKEN, BASIC = "none", "token", "basic"
MODES = (NONE, TOKEN, BASIC)

AUTHORIZATION_MAX = 8192
"""The longest Authorization header looked at; longer ones are refused unread."""

BASIC_REALM = "sealedreg"
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?$")


class AuthConfigError(ValueError):
    """Auth cannot be set up as configured; the message says what to do."""


# --------------------------------------------------------------------------- start-up


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


def startup_check(config: Config) -> str:
    """Apply the start-up rule; return the line `serve` prints about auth.

    AuthConfigError when the server must not start: no auth on a non-loopback
    address (without --insecure-no-auth), a missing or too-open users file,
    an unusable token key."""
    mode = resolve_mode(config)
    if mode == NONE:
        if is_loopback(config.host):
            return ("auth: off (no users file and no auth config): open to anyone who can reach "
                    f"{config.host}, a loopback address; add a user with `sealedreg user add NAME` to turn it on")
        if not config.insecure_no_auth:
            raise AuthConfigError(
                f"refusing to listen on {config.host} without auth: add a user with `sealedreg user add NAME` "
                f"(users file {config.users_path}), listen on a loopback address, or pass --insecure-no-auth")
        return f"auth: OFF on {config.host} (--insecure-no-auth): anyone who can reach it can push, pull and delete"
    try:
        names = userfile.read_users(config.users_path)
    except userfile.UsersFileError as exc:
        raise AuthConfigError(f"auth = {mode}: {exc}; add a user with `sealedreg user add NAME`") from None
    if mode == TOKEN:
        try:
            key, created = load_or_create_key(config.token_key_path)
        except ValueError as exc:
            raise AuthConfigError(str(exc)) from None
        made = "new " if created else ""
        return (f"auth: token ({len(names)} users, service {config.auth_service!r}, {made}{key.alg} key "
                f"{config.token_key_path}, kid {key.kid})")
    return f"auth: basic ({len(names)} users)"


def build_acl(config: Config) -> Acl:
    if config.acl is None:
        rules: Iterable[Rule] = DEFAULT_RULES
    else:
        rules = [Rule(tuple(r.repositories), frozenset(r.actions), frozenset(r.users), frozenset(r.groups))
                 for r in config.acl]
    private = Policy({ns: NamespacePolicy(ns, tuple(nsc.private)) for ns, nsc in config.namespaces.items()})
    return Acl(tuple(rules), dict(config.groups), tuple(config.anonymous_pull), private.is_private)


# --------------------------------------------------------------------------- identities


@dataclass(frozen=True)
class Identity:
    """Who made a request, and what decides what they may do: the token's
    grant (token mode), else the ACL for the subject (basic mode, anonymous)."""

    subject: str | None
    grant: Grant | None
    acl: Acl

    def can(self, scope_type: str, name: str, action: str) -> bool:
        if self.grant is not None:
            return self.grant.allows(scope_type, name, action)
        if scope_type == REPOSITORY:
            return action in self.acl.repository_actions(self.subject, name)
        if scope_type == REGISTRY and name == CATALOG:
            return self.acl.catalog_allowed(self.subject)
        return False

    def has(self, scope: Scope) -> bool:
        return all(self.can(scope.type, scope.name, a) for a in scope.actions)

    def may_see(self, repository: str) -> bool:
        """Whether the catalog lists `repository` for this caller: it may pull it."""
        return self.acl.may_pull(self.subject, repository)

    def __repr__(self) -> str:
        return f"Identity({self.subject or 'anonymous'})"


@dataclass(frozen=True)
class Need:
    """What a request needs. `scopes` must all be held; `optional` is asked for
    in a challenge but not required (a mount's `from`). With no scopes, any
    presented credential will do (`/v2/`, unknown `/v2/` paths)."""

    scopes: tuple[Scope, ...] = ()
    optional: tuple[Scope, ...] = ()

    @property
    def credential_only(self) -> bool:
        return not self.scopes


class Outcome(Enum):
    OK = "ok"
    BAD = "bad"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Login:
    outcome: Outcome
    user: str | None = None
    hashed: str | None = None
    retry_after: int = 0


def client_of(scope: AsgiScope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def parse_basic(value: str) -> tuple[str, str] | None:
    """(user, password) from a `Basic …` Authorization value, or None if malformed."""
    scheme, _, param = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def _bearer(value: str) -> str | None:
    scheme, _, param = value.partition(" ")
    return param.strip() if scheme.lower() == "bearer" else None


# --------------------------------------------------------------------------- the authenticator


class Authenticator:
    PASSWORD_CACHE_TTL = 300.0
    PASSWORD_CACHE_SIZE = 1024

    def __init__(self, config: Config, mode: str | None = None, throttle: Throttle | None = None) -> None:
        self.config = config
        self.mode = mode or resolve_mode(config)
        self.service = config.auth_service
        self.users = userfile.Users(config.users_path)
        self.acl = build_acl(config)
        self.throttle = throttle or Throttle()
        self.tokens: Tokens | None = None
        if self.mode == TOKEN:
            key, _ = load_or_create_key(config.token_key_path)
            self.tokens = Tokens(key, self.service, config.token_lifetime, config.refresh_token_lifetime)
        # Successful password checks, remembered briefly so a client that
        # authenticates every request does not pay bcrypt every time. Keyed by
        # an HMAC under a per-process random key: the cache holds no password.
        self._cache_key = os.urandom(32)
        self._ok: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    # ---------------------------------------------------------------- passwords

    def _cache_id(self, user: str, password: str) -> bytes:
        return hmac.new(self._cache_key, user.encode() + b"\0" + password.encode(), hashlib.sha256).digest()

    async def login(self, client: str, user: str, password: str) -> Login:
        """Check a user's password, throttled per client. Never logs the password."""
        wait = self.throttle.retry_after(client)
        if wait:
            log.info("login throttled for client %s (retry after %ds)", client, wait)
            return Login(Outcome.THROTTLED, retry_after=wait)
        hashed = self.users.hash_of(user)
        key = self._cache_id(user, password)
        cached = self._ok.get(key)
        now = time.monotonic()
        if hashed is not None and cached is not None and cached[0] == hashed and cached[1] > now:
            return Login(Outcome.OK, user, hashed)
        self.throttle.begin(client)
        try:
            cost = self.users.max_cost()
            if hashed is None:
                await to_thread.run_sync(userfile.dummy_check, password, cost)
                ok = False
            else:
                ok = await to_thread.run_sync(userfile.check_password, password, hashed, cost)
            if not ok:
                self.throttle.failed(client)
        finally:
            self.throttle.end(client)
        if hashed is None:
            log.info("login failed from %s: unknown user", client)
            return Login(Outcome.BAD)
        if not ok:
            log.info("login failed from %s: wrong password for user %s", client, user)
            return Login(Outcome.BAD)
        self._ok[key] = (hashed, now + self.PASSWORD_CACHE_TTL)
        self._ok.move_to_end(key)
        while len(self._ok) > self.PASSWORD_CACHE_SIZE:
            self._ok.popitem(last=False)
        return Login(Outcome.OK, user, hashed)

    # ---------------------------------------------------------------- challenges

    def realm(self, scope: AsgiScope) -> str:
        """The token endpoint's URL: configured, or this request's own origin + /token."""
        if self.config.auth_realm:
            return self.config.auth_realm
        host = Headers(scope=scope).get("host", "")
        if not _HOST.fullmatch(host):
            host = f"{self.config.host}:{self.config.port}"
        return f"{scope.get('scheme', 'http')}://{host}/token"

    def challenge(self, scope: AsgiScope, scopes: Iterable[Scope] = (), error: str | None = None) -> str:
        if self.mode == BASIC:
            return f'Basic realm="{BASIC_REALM}",charset="UTF-8"'
        parts = [f'realm="{self.realm(scope)}"', f'service="{self.service}"']
        text = format_scopes(scopes)
        if text:
            parts.append(f'scope="{text}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    # ---------------------------------------------------------------- per request

    async def authorize(self, scope: AsgiScope, need: Need) -> Identity | Response:
        """Decide one /v2/ request: its Identity, or the response refusing it."""
        head = scope.get("method") == "HEAD"
        value = Headers(scope=scope).get("authorization")
        if value is not None and len(value) > AUTHORIZATION_MAX:
            log.info("denied %s %s: oversized Authorization header", scope.get("method"), _scope_text(need))
            return self._unauthorized(scope, need, "invalid credentials", head, error="invalid_request")
        if value is None:
            anonymous = Identity(ANONYMOUS, None, self.acl)
            if not need.credential_only and all(anonymous.has(s) for s in need.scopes):
                return anonymous
            return self._unauthorized(scope, need, "authentication required", head)
        if self.mode == TOKEN:
            token = _bearer(value)
            if token is None:
                return self._unauthorized(scope, need, "authentication required", head)
            assert self.tokens is not None
            try:
                grant = self.tokens.verify(token)
            except TokenError as exc:
                log.info("denied %s %s: %s", scope.get("method"), _scope_text(need), exc)
                return self._unauthorized(scope, need, str(exc), head, error="invalid_token")
            identity = Identity(grant.subject, grant, self.acl)
            missing = [s for s in need.scopes if not identity.has(s)]
            if missing:
                log.info("denied %s for %s: insufficient scope (needs %s)", scope.get("method"),
                         grant.subject or "anonymous", format_scopes(need.scopes))
                return self._unauthorized(scope, need, "insufficient scope", head, error="insufficient_scope",
                                          exact=True)
            return identity
        # basic mode
        creds = parse_basic(value)
        client = client_of(scope)
        if creds is None:
            wait = self.throttle.retry_after(client)
            if wait:
                return too_many(wait, head)
            self.throttle.failed(client)
            return self._unauthorized(scope, need, "authentication required", head)
        result = await self.login(client, *creds)
        if result.outcome is Outcome.THROTTLED:
            return too_many(result.retry_after, head)
        if result.outcome is Outcome.BAD:
            return self._unauthorized(scope, need, "invalid username or password", head)
        identity = Identity(result.user, None, self.acl)
        missing = [s for s in need.scopes if not identity.has(s)]
        if missing:
            log.info("denied %s for %s: not allowed (needs %s)", scope.get("method"), result.user,
                     format_scopes(need.scopes))
            return denied(missing, head)
        return identity

    def _unauthorized(self, scope: AsgiScope, need: Need, message: str, head: bool, error: str | None = None,
                      exact: bool = False) -> Response:
        """401 with a challenge. A first challenge (no token yet) asks for pull
        *and* push on a repository that needs pull, so that a client keeping one
        token per session (oras-py) can push with it; the token service still
        grants only what the ACL allows. After a token, the challenge names
        exactly the missing scope (RFC 6750 insufficient_scope)."""
        scopes = list(need.scopes) if exact else [_widen(s) for s in need.scopes]
        if not exact:
            scopes += list(need.optional)
        header = self.challenge(scope, scopes, error=error)
        return error_response("UNAUTHORIZED", message, 401, detail=_detail(need.scopes) or None,
                              headers={"WWW-Authenticate": header}, head=head)


def _widen(scope: Scope) -> Scope:
    if scope.type == REPOSITORY and scope.actions == frozenset({PULL}):
        return Scope(scope.type, scope.name, frozenset({PULL, PUSH}))
    return scope


def _detail(scopes: Iterable[Scope]) -> list[dict[str, Any]]:
    return [{"Type": s.type, "Name": s.name, "Action": a} for s in scopes for a in sort_actions(s.actions)]


def _scope_text(need: Need) -> str:
    return format_scopes(need.scopes) or "/v2/"


def denied(scopes: Iterable[Scope], head: bool = False) -> Response:
    return error_response("DENIED", "requested access to the resource is denied", 403,
                          detail=_detail(scopes) or None, head=head)


def too_many(retry_after: int, head: bool = False) -> Response:
    return error_response("TOOMANYREQUESTS", "too many failed logins from this client; retry later", 429,
                          headers={"Retry-After": str(retry_after)}, head=head)
