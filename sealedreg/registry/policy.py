"""Which repositories are private, and what a namespace's private layers do.

A namespace lists its private repositories as globs over the name below the
namespace (`app`, `app/*`, `*`). Private repositories need the namespace's
org secret (their layers' dedupe domain) and its keys (to seal and sign).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from sealedreg.crypto.keys import OrgKeys
from sealedreg.registry.domains import namespace_of


@dataclass(frozen=True)
class NamespacePolicy:
    namespace: str
    private: tuple[str, ...] = ()
    layers: str = "org"  # "org", or "auto": a layer a public repository has stays in the global domain
    keys: OrgKeys | None = field(default=None, repr=False)


class Policy:
    def __init__(self, namespaces: dict[str, NamespacePolicy] | None = None) -> None:
        self._ns = namespaces or {}

    def namespace(self, namespace: str) -> NamespacePolicy:
        return self._ns.get(namespace, NamespacePolicy(namespace))

    def owns(self, namespace: str) -> bool:
        """Whether `namespace` is configured here ([namespaces] in the config)."""
        return namespace in self._ns

    def configured(self) -> list[str]:
        """The namespaces configured here, sorted."""
        return sorted(self._ns)

    def org_keys(self) -> list[OrgKeys]:
        """Every organisation key configured here: what opens envelopes sealed to us."""
        return [p.keys for p in self._ns.values() if p.keys is not None]

    def is_private(self, repo: str) -> bool:
        ns = namespace_of(repo)
        policy = self._ns.get(ns)
        if policy is None or not policy.private:
            return False
        below = repo[len(ns) + 1:] if repo != ns else ""
        return any(fnmatch.fnmatchcase(below, pattern) for pattern in policy.private)

    def auto_layers(self, repo: str) -> bool:
        return self.is_private(repo) and self.namespace(namespace_of(repo)).layers == "auto"
