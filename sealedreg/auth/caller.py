"""Who is calling: what endpoints ask about the request's caller.

The API's access middleware puts an `Identity` in the request scope; with
auth off there is none and everything is allowed.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from starlette.types import Scope as AsgiScope

from sealedreg.auth.scopes import PULL, PUSH, REPOSITORY
from sealedreg.auth.identity import Identity

IDENTITY_KEY = "sealedreg.identity"


def identity_of(scope: AsgiScope) -> Identity | None:
    """The caller of this request; None when auth is off (everything allowed)."""
    return scope.get(IDENTITY_KEY)


def may_pull(scope: AsgiScope, repository: str) -> bool:
    """Whether this request's caller may read `repository` (a mount's `from`)."""
    identity = identity_of(scope)
    return identity is None or identity.can(REPOSITORY, repository, PULL)


def may_push(scope: AsgiScope, repository: str) -> bool:
    """Whether this request's caller may push to `repository` (what a blob
    found in another repository is linked into)."""
    identity = identity_of(scope)
    return identity is None or identity.can(REPOSITORY, repository, PUSH)


async def visible_repositories(scope: AsgiScope, fetch: Callable[[str | None, int], Awaitable[list[str]]],
                               last: str | None, count: int) -> list[str]:
    """Up to `count` repository names after `last` that the caller may pull.

    `fetch(last, n)` is the registry's catalog query; with auth off this is
    one call to it, else it pages through the catalog until `count` visible
    names are found or it ends."""
    identity = identity_of(scope)
    if identity is None:
        return await fetch(last, count)
    out: list[str] = []
    batch = max(count, 256)
    cursor = last
    while len(out) < count:
        names = await fetch(cursor, batch)
        out += [n for n in names if identity.may_see(n)]
        if len(names) < batch:
            break
        cursor = names[-1]
    return out[:count]
