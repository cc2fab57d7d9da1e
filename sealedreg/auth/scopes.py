"""Token scopes: `type[(class)]:name:action[,action…]`, as in the Docker token spec.

A scope names one resource and the actions wanted on it:

    repository:example.com/app:pull,push
    repository(plugin):example.com/app:pull
    registry:catalog:*

The name may itself contain `:` (a registry host with a port), so the type
ends at the first `:` and the actions start after the last one. Repository
names must pass the same grammar as the `/v2/` routes, so `../`, `%2e`, NUL
bytes and the like are refused here too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from sealedreg.registry.errors import NameInvalid
from sealedreg.registry.refs import validate_name

REPOSITORY = "repository"
REGISTRY = "registry"
CATALOG = "catalog"

PULL, PUSH, DELETE = "pull", "push", "delete"
REPOSITORY_ACTIONS = (PULL, PUSH, DELETE)
"""What can be granted on a repository, in their canonical order."""

SCOPE_MAX = 512
"""The longest scope string accepted (a 255-character name plus room)."""

SCOPES_MAX = 32
"""The most scopes one token request may ask for."""

_TYPE = re.compile(r"^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$")
_ACTION = re.compile(r"^(?:[a-z]+|\*)$")


class ScopeError(ValueError):
    """A malformed scope; the message says what is wrong (never echoes more than a prefix)."""


@dataclass(frozen=True)
class Scope:
    """One resource and a set of actions on it."""

    type: str
    name: str
    actions: frozenset[str]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(sort_actions(self.actions))}"

    def claim(self) -> dict:
        """The entry of a token's `access` claim."""
        return {"type": self.type, "name": self.name, "actions": sort_actions(self.actions)}


def sort_actions(actions: Iterable[str]) -> list[str]:
    order = {a: i for i, a in enumerate(REPOSITORY_ACTIONS)}
    return sorted(set(actions), key=lambda a: (order.get(a, len(order)), a))


def parse_scope(text: str) -> Scope | None:
    """Parse one scope; None for a well-formed scope of a resource type this
    registry does not serve (it is granted nothing). ScopeError if malformed."""
    if len(text) > SCOPE_MAX:
        raise ScopeError(f"scope longer than {SCOPE_MAX} characters")
    head, sep, rest = text.partition(":")
    name, sep2, actions_text = rest.rpartition(":")
    if not sep or not sep2 or not head or not name:
        raise ScopeError(f"malformed scope {text[:64]!r}: want type:name:actions")
    m = _TYPE.fullmatch(head)
    if not m:
        raise ScopeError(f"malformed resource type in scope {text[:64]!r}")
    rtype = m.group(1)
    actions = frozenset(a for a in actions_text.split(",") if a)
    if not actions or not all(_ACTION.fullmatch(a) for a in actions):
        raise ScopeError(f"malformed actions in scope {text[:64]!r}")
    if rtype == REPOSITORY:
        try:
            validate_name(name)
        except NameInvalid:
            raise ScopeError(f"invalid repository name in scope {text[:64]!r}") from None
        return Scope(REPOSITORY, name, actions)
    if rtype == REGISTRY:
        if name != CATALOG:
            return None
        return Scope(REGISTRY, CATALOG, actions)
    return None


def parse_scopes(values: Iterable[str]) -> list[Scope]:
    """Every scope in `values`: each value may hold several, separated by spaces
    (the OAuth2 form), and values may repeat (the GET form). Scopes of one
    resource are merged. ScopeError if any is malformed or there are too many."""
    merged: dict[tuple[str, str], set[str]] = {}
    count = 0
    for value in values:
        for text in value.split():
            count += 1
            if count > SCOPES_MAX:
                raise ScopeError(f"more than {SCOPES_MAX} scopes requested")
            scope = parse_scope(text)
            if scope is not None:
                merged.setdefault((scope.type, scope.name), set()).update(scope.actions)
    return [Scope(t, n, frozenset(a)) for (t, n), a in merged.items()]


def format_scopes(scopes: Iterable[Scope]) -> str:
    """Scopes as one space-separated string (a challenge's `scope` parameter)."""
    return " ".join(str(s) for s in scopes)
