"""The decision for one request: let it through with an `Identity`, or a
`Refusal` (401 / 403 / 429) that the API renders (docs/auth.md).

Modes (`auth` in the config):

* `token` — Docker token auth. `/v2/` answers 401 with
  `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; clients get a JWT
  from `/token` and present it. A valid token lacking the needed scope gets
  401 with `error="insufficient_scope"` and the scope it needs (RFC 6750).
* `basic` — every request carries HTTP Basic credentials; a user the ACL
  does not allow gets 403 `DENIED`.

The browse page (`/ui/`) asks `viewer` instead, in both modes: Basic
credentials or none (anonymous), the page then shows what that viewer may pull.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Iterable

from starlette.datastructures import Headers
from starlette.types import Scope as AsgiScope

from sealedreg.auth.acl import ANONYMOUS, Acl
from sealedreg.auth.identity import (
    AUTHORIZATION_MAX,
    Identity,
    Need,
    Refusal,
    client_of,
    parse_basic,
    parse_bearer,
)
from sealedreg.auth.login import Login, Outcome, Passwords
from sealedreg.auth.scopes import PULL, PUSH, REPOSITORY, Scope, format_scopes, sort_actions
from sealedreg.auth.throttle import Throttle
from sealedreg.auth.tokens import TokenError, Tokens
from sealedreg.auth.users import Users

log = logging.getLogger("sealedreg.auth")

TOKEN, BASIC = "token", "basic"
BASIC_REALM = "sealedreg"
BASIC_CHALLENGE = f'Basic realm="{BASIC_REALM}",charset="UTF-8"'
_HOST = re.compile(r"^[A-Za-z0-9.\-]{1,253}(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?$")


class Authenticator:
    """Users, ACL, tokens and the login throttle of a registry with auth on.
    Built once at start-up (`sealedreg.auth.startup.start_auth`)."""

    def __init__(self, mode: str, users: Users, acl: Acl, tokens: Tokens | None, service: str,
                 realm: str = "", fallback_host: str = "127.0.0.1:5000", throttle: Throttle | None = None) -> None:
        if mode not in (TOKEN, BASIC) or (mode == TOKEN) != (tokens is not None):
            raise ValueError("token mode needs tokens, basic mode none")
        self.mode = mode
        self.users = users
        self.acl = acl
        self.tokens = tokens
        self.service = service
        self._realm = realm
        self._fallback_host = fallback_host
        self.passwords = Passwords(users, throttle)
        self.throttle = self.passwords.throttle

    async def login(self, client: str, user: str, password: str) -> Login:
        return await self.passwords.login(client, user, password)

    # ---------------------------------------------------------------- challenges
    def realm(self, scope: AsgiScope) -> str:
        """The token endpoint's URL: configured, or this request's own origin + /token."""
        if self._realm:
            return self._realm
        host = Headers(scope=scope).get("host", "")
        if not _HOST.fullmatch(host):
            host = self._fallback_host
        return f"{scope.get('scheme', 'http')}://{host}/token"

    def challenge(self, scope: AsgiScope, scopes: Iterable[Scope] = (), error: str | None = None) -> str:
        if self.mode == BASIC:
            return BASIC_CHALLENGE
        parts = [f'realm="{self.realm(scope)}"', f'service="{self.service}"']
        text = format_scopes(scopes)
        if text:
            parts.append(f'scope="{text}"')
        if error:
            parts.append(f'error="{error}"')
        return "Bearer " + ",".join(parts)

    # ---------------------------------------------------------------- per request
    async def authorize(self, scope: AsgiScope, need: Need) -> Identity | Refusal:
        """Decide one /v2/ request: its Identity, or the Refusal to answer it with."""
        value = Headers(scope=scope).get("authorization")
        if value is not None and len(value) > AUTHORIZATION_MAX:
            log.info("denied %s %s: oversized Authorization header", scope.get("method"), _scope_text(need))
            return self._unauthorized(scope, need, "invalid credentials", error="invalid_request")
        if value is None:
            anonymous = Identity(ANONYMOUS, None, self.acl)
            if not need.credential_only and all(anonymous.has(s) for s in need.scopes):
                return anonymous
            return self._unauthorized(scope, need, "authentication required")
        if self.mode == TOKEN:
            return self._by_token(scope, need, value)
        return await self._by_password(scope, need, value)

    def _by_token(self, scope: AsgiScope, need: Need, value: str) -> Identity | Refusal:
        token = parse_bearer(value)
        if token is None:
            return self._unauthorized(scope, need, "authentication required")
        assert self.tokens is not None
        try:
            grant = self.tokens.verify(token)
        except TokenError as exc:
            log.info("denied %s %s: %s", scope.get("method"), _scope_text(need), exc)
            return self._unauthorized(scope, need, str(exc), error="invalid_token")
        identity = Identity(grant.subject, grant, self.acl)
        if any(not identity.has(s) for s in need.scopes):
            log.info("denied %s for %s: insufficient scope (needs %s)", scope.get("method"),
                     grant.subject or "anonymous", format_scopes(need.scopes))
            return self._unauthorized(scope, need, "insufficient scope", error="insufficient_scope", exact=True)
        return identity

    async def viewer(self, scope: AsgiScope) -> Identity | Refusal:
        """Who is looking at the browse page (`/ui/`), in either mode: HTTP Basic
        credentials (a browser cannot fetch tokens), checked and throttled like
        every password; no credentials: anonymous. A refusal is 401 with the
        Basic challenge, or 429."""
        value = Headers(scope=scope).get("authorization")
        if value is None:
            return Identity(ANONYMOUS, None, self.acl)
        if len(value) > AUTHORIZATION_MAX:
            return Refusal(401, "UNAUTHORIZED", "invalid credentials", headers={"WWW-Authenticate": BASIC_CHALLENGE})
        checked = await self._password(scope, value)
        if isinstance(checked, Refusal) and checked.status == 401:
            return Refusal(401, "UNAUTHORIZED", checked.message, headers={"WWW-Authenticate": BASIC_CHALLENGE})
        return checked

    async def _password(self, scope: AsgiScope, value: str) -> Identity | Refusal:
        """The user a Basic Authorization value proves, or a refusal: 429 when
        throttled, else 401 without a challenge (the caller adds its own)."""
        creds = parse_basic(value)
        client = client_of(scope)
        if creds is None:
            wait = self.throttle.retry_after(client)
            if wait:
                return too_many(wait)
            self.throttle.failed(client)
            return Refusal(401, "UNAUTHORIZED", "authentication required")
        result = await self.login(client, *creds)
        if result.outcome is Outcome.THROTTLED:
            return too_many(result.retry_after)
        if result.outcome is Outcome.BAD:
            return Refusal(401, "UNAUTHORIZED", "invalid username or password")
        return Identity(result.user, None, self.acl)

    async def _by_password(self, scope: AsgiScope, need: Need, value: str) -> Identity | Refusal:
        identity = await self._password(scope, value)
        if isinstance(identity, Refusal):
            if identity.status == 401:
                return self._unauthorized(scope, need, identity.message)
            return identity
        missing = [s for s in need.scopes if not identity.has(s)]
        if missing:
            log.info("denied %s for %s: not allowed (needs %s)", scope.get("method"), identity.subject,
                     format_scopes(need.scopes))
            return Refusal(403, "DENIED", "requested access to the resource is denied", _detail(missing) or None)
        return identity

    def _unauthorized(self, scope: AsgiScope, need: Need, message: str, error: str | None = None,
                      exact: bool = False) -> Refusal:
        """401 with a challenge. A first challenge (no token yet) asks for pull
        *and* push on a repository that needs pull, so that a client keeping one
        token per session (oras-py) can push with it; the token service still
        grants only what the ACL allows. After a token, the challenge names
        exactly the missing scope (RFC 6750 insufficient_scope)."""
        scopes = list(need.scopes) if exact else [_widen(s) for s in need.scopes] + list(need.optional)
        return Refusal(401, "UNAUTHORIZED", message, _detail(need.scopes) or None,
                       {"WWW-Authenticate": self.challenge(scope, scopes, error=error)})


def too_many(retry_after: int) -> Refusal:
    return Refusal(429, "TOOMANYREQUESTS", "too many failed logins from this client; retry later",
                   headers={"Retry-After": str(retry_after)})


def _widen(scope: Scope) -> Scope:
    if scope.type == REPOSITORY and scope.actions == frozenset({PULL}):
        return Scope(scope.type, scope.name, frozenset({PULL, PUSH}))
    return scope


def _detail(scopes: Iterable[Scope]) -> list[dict[str, Any]]:
    return [{"Type": s.type, "Name": s.name, "Action": a} for s in scopes for a in sort_actions(s.actions)]


def _scope_text(need: Need) -> str:
    return format_scopes(need.scopes) or "/v2/"
