"""Dedupe domains (DESIGN §3): which secret, if any, a repository's blobs
are encrypted under.

A namespace is the first component of a repository name (`example.com` in
`example.com/app`). A namespace configured with an org secret puts its blobs
in its own domain `org:<namespace>`; every other repository uses the global
domain (no secret), where the same layer has the same CID for everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from sealedreg.registry.errors import RegistryError

GLOBAL = "global"


@dataclass(frozen=True)
class Domain:
    name: str
    secret: bytes | None

    @property
    def kind(self) -> str:
        return GLOBAL if self.name == GLOBAL else "org"

    def __repr__(self) -> str:  # never show the secret
        return f"Domain({self.name!r})"


class UnknownDomain(RegistryError):
    """Content is recorded in a domain whose secret is not configured (500 on the API)."""

    code = "UNKNOWN"
    default_message = "content is in a dedupe domain whose secret is not configured"


def namespace_of(repo: str) -> str:
    return repo.split("/", 1)[0]


class Domains:
    def __init__(self, secrets: Mapping[str, bytes] | None = None) -> None:
        self._org = {ns: Domain(f"org:{ns}", secret) for ns, secret in (secrets or {}).items()}
        self._global = Domain(GLOBAL, None)

    def for_repo(self, repo: str) -> Domain:
        return self._org.get(namespace_of(repo), self._global)

    def get(self, name: str) -> Domain:
        if name == GLOBAL:
            return self._global
        domain = self._org.get(name.removeprefix("org:"))
        if domain is None or domain.name != name:
            raise UnknownDomain(detail={"domain": name})
        return domain
