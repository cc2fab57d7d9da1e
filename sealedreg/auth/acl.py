"""Who may do what: per namespace / repository-glob rules for users and groups.

A rule grants actions (`pull`, `push`, `delete`) on the repositories its globs
match to the users and groups it names. Rules only ever grant: what a subject
may do on a repository is the union of every matching rule. `push` includes
`pull` (a pusher must see what it pushes into; clients ask for both).

Globs: `*` matches within one path component, `**` across components, `?` one
character other than `/`; everything else is literal. `example.com/**` is
every repository under the namespace `example.com`.

Subjects: a user name, `*` for every authenticated user, or a group from the
config's `[groups]` table. Anonymous clients get `pull` on the repositories
matched by `anonymous_pull` and nothing else.

The registry catalog (`registry:catalog:*`) is open to every authenticated
user, and to anonymous clients when anonymous pull is configured at all; the
listing itself only shows the repositories the caller may pull.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterable, Mapping, Sequence

from sealedreg.auth.scopes import CATALOG, PULL, PUSH, REGISTRY, REPOSITORY, REPOSITORY_ACTIONS, Scope

ANY_USER = "*"
ANONYMOUS = None
"""The subject of a client that presented no credentials."""


@lru_cache(maxsize=1024)
def compile_glob(pattern: str) -> re.Pattern[str]:
    """A repository glob as an anchored regex (`*`, `**`, `?`; the rest literal)."""
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("^" + "".join(out) + "$")


def glob_match(pattern: str, name: str) -> bool:
    return compile_glob(pattern).fullmatch(name) is not None


@dataclass(frozen=True)
class Rule:
    """Grant `actions` on repositories matching any of `repositories` to the
    listed users (`*`: any authenticated user) and members of `groups`."""

    repositories: tuple[str, ...]
    actions: frozenset[str]
    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    def applies_to(self, subject: str, member_of: frozenset[str]) -> bool:
        return ANY_USER in self.users or subject in self.users or bool(self.groups & member_of)

    def matches(self, repository: str) -> bool:
        return any(glob_match(p, repository) for p in self.repositories)


DEFAULT_RULES = (Rule(("**",), frozenset(REPOSITORY_ACTIONS), users=frozenset({ANY_USER})),)
"""With no `[[acl]]` rules configured: every authenticated user may do everything."""


def expand_actions(actions: Iterable[str]) -> frozenset[str]:
    out = set(actions)
    if PUSH in out:
        out.add(PULL)
    return frozenset(out & set(REPOSITORY_ACTIONS))


@dataclass
class Acl:
    rules: Sequence[Rule] = DEFAULT_RULES
    groups: Mapping[str, Iterable[str]] = field(default_factory=dict)
    anonymous_pull: Sequence[str] = ()
    # Private repositories (docs/format.md §8) are never pulled anonymously
    # through a glob: only an anonymous_pull entry naming the repository exactly opens one.
    is_private: Callable[[str], bool] = lambda repository: False

    def __post_init__(self) -> None:
        membership: dict[str, set[str]] = {}
        for group, members in self.groups.items():
            for user in members:
                membership.setdefault(user, set()).add(group)
        self._member_of = {u: frozenset(g) for u, g in membership.items()}

    def groups_of(self, subject: str) -> frozenset[str]:
        return self._member_of.get(subject, frozenset())

    def repository_actions(self, subject: str | None, repository: str) -> frozenset[str]:
        """What `subject` (None: anonymous) may do on `repository`."""
        if subject is ANONYMOUS:
            if self.is_private(repository):
                return frozenset({PULL}) if repository in self.anonymous_pull else frozenset()
            return frozenset({PULL}) if any(glob_match(p, repository) for p in self.anonymous_pull) else frozenset()
        member_of = self.groups_of(subject)
        granted: set[str] = set()
        for rule in self.rules:
            if rule.applies_to(subject, member_of) and rule.matches(repository):
                granted |= rule.actions
        return expand_actions(granted)

    def catalog_allowed(self, subject: str | None) -> bool:
        return subject is not ANONYMOUS or bool(self.anonymous_pull)

    def allowed(self, subject: str | None, scope: Scope) -> frozenset[str]:
        """The actions of `scope` that `subject` may have: requested ∩ allowed."""
        if scope.type == REPOSITORY:
            wanted = frozenset(REPOSITORY_ACTIONS) if "*" in scope.actions else scope.actions
            return wanted & self.repository_actions(subject, scope.name)
        if scope.type == REGISTRY and scope.name == CATALOG:
            return scope.actions & {"*"} if self.catalog_allowed(subject) else frozenset()
        return frozenset()

    def grant(self, subject: str | None, requested: Iterable[Scope]) -> list[Scope]:
        """The scopes to put in a token: each requested scope cut down to what
        is allowed; scopes left with no action are dropped."""
        out = []
        for scope in requested:
            actions = self.allowed(subject, scope)
            if actions:
                out.append(Scope(scope.type, scope.name, actions))
        return out

    def may_pull(self, subject: str | None, repository: str) -> bool:
        return PULL in self.repository_actions(subject, repository)

