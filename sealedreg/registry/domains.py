"""Dedupe domains (docs/format.md §2): which secret, if any, a repository's
blobs are encrypted under.

A namespace is the first component of a repository name (`example.com` in
`example.com/app`). A namespace configured with an org secret puts its blobs
in its own domain `org:<namespace>`; every other repository uses the global
domain (no secret), where the same layer has the same CID for everyone.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Mapping

from sealedreg.crypto.convergent import derive_key
from sealedreg.datadir import DataDir
from sealedreg.protected_files import SecretFileError, create_secret, load_secret
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


_ROTATED = re.compile(r"^org:([a-z0-9._-]+)~([0-9a-f]{32})$")


class Domains:
    """The configured org domains, plus rotated ones (`org:<ns>~<id>`) whose
    secrets the registry keeps in its data directory."""

    def __init__(self, secrets: Mapping[str, bytes] | None = None, datadir: DataDir | None = None) -> None:
        self._org = {ns: Domain(f"org:{ns}", secret) for ns, secret in (secrets or {}).items()}
        self._global = Domain(GLOBAL, None)
        self._datadir = datadir
        self._rotated: dict[str, Domain] = {}

    def for_repo(self, repo: str) -> Domain:
        return self._org.get(namespace_of(repo), self._global)

    def get(self, name: str) -> Domain:
        if name == GLOBAL:
            return self._global
        m = _ROTATED.fullmatch(name)
        if m:
            return self._load_rotated(name, m.group(2))
        domain = self._org.get(name.removeprefix("org:"))
        if domain is None or domain.name != name:
            raise UnknownDomain(detail={"domain": name})
        return domain

    def content_key(self, digest: str, domain: str) -> bytes:
        """The key of content `digest` stored in `domain` (docs/format.md §2)."""
        return derive_key(digest, self.get(domain).secret)

    def rotate(self, namespace: str) -> Domain:
        """A fresh org domain for `namespace`: a new 32-byte secret, 0600."""
        if self._datadir is None or namespace not in self._org:
            raise UnknownDomain(f"namespace {namespace} has no org secret to rotate")
        ident = secrets.token_hex(16)
        self._datadir.secrets.mkdir(mode=0o700, parents=True, exist_ok=True)
        create_secret(self._datadir.rotated_secret(ident))
        return self.get(f"org:{namespace}~{ident}")

    def _load_rotated(self, name: str, ident: str) -> Domain:
        if name not in self._rotated:
            if self._datadir is None:
                raise UnknownDomain(detail={"domain": name})
            try:
                self._rotated[name] = Domain(name, load_secret(self._datadir.rotated_secret(ident)))
            except SecretFileError:
                raise UnknownDomain(detail={"domain": name}) from None
        return self._rotated[name]
