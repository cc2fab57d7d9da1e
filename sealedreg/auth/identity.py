"""Who is asking, and what a request needs: the values auth decides with.

An `Identity` is the caller of one request: a token's grant (token mode),
else the ACL applied to the subject (basic mode, anonymous). A `Need` is
what the route being reached requires. Credentials come in as HTTP
Authorization values; parsing them is here too.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Mapping

from sealedreg.auth.acl import Acl
from sealedreg.auth.scopes import CATALOG, REGISTRY, REPOSITORY, Scope
from sealedreg.auth.tokens import Grant

AUTHORIZATION_MAX = 8192
"""The longest Authorization header looked at; longer ones are refused unread."""


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


@dataclass(frozen=True)
class Refusal:
    """The answer to a request auth will not let through; the API renders it
    as an OCI error response."""

    status: int
    code: str
    message: str
    detail: object = None
    headers: Mapping[str, str] | None = None


def client_of(scope: Mapping) -> str:
    """The client address of an ASGI request (what failed logins are counted by)."""
    client = scope.get("client")
    return client[0] if client else "unknown"


def parse_basic(value: str) -> tuple[str, str] | None:
    """(user, password) from a `Basic …` Authorization value, or None if malformed."""
    scheme, _, param = value.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(param.strip(), validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, or a non-ASCII character (Latin-1 header bytes)
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


def parse_bearer(value: str) -> str | None:
    scheme, _, param = value.partition(" ")
    return param.strip() if scheme.lower() == "bearer" else None
