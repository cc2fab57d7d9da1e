"""What the browse page (`/ui/`, docs/api.md "Browse page") shows: namespaces,
their repositories, tags, manifests, sizes, shared blobs, dedupe savings and
each namespace's publish state — as plain data, no HTML.

Only repositories the viewer may pull are looked at: the caller passes a
`may_pull(repository)` predicate (the same ACL decision the API makes), and
everything here — sizes, which blobs are shared, what dedupe saved — is
computed over those repositories alone, so nothing on the page depends on a
repository the viewer cannot see.

Sizes are plaintext bytes as pushed. A manifest's total is its own bytes plus
every distinct blob it references that its repository holds (for an index,
its child manifests' totals too, each blob counted once). A repository's size
is the bytes it references: every blob and manifest it holds. Dedupe saved
the bytes the shown repositories reference minus the bytes stored for them
once per dedupe domain (the same plaintext in two domains is stored twice).

`build_overview` is a pure function of the index rows; `Browser` gathers
them, and the blob references of each manifest (read from the store once per
manifest digest and remembered).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

from sealedreg.publish.ipns import IpnsError, parse_record
from sealedreg.registry import manifests as mf
from sealedreg.registry.domains import namespace_of
from sealedreg.registry.errors import IntegrityError, RegistryError
from sealedreg.registry.index import BlobRecord, ManifestRecord
from sealedreg.storage.base import StorageError

if TYPE_CHECKING:
    from sealedreg.registry.service import Registry

log = logging.getLogger("sealedreg")

MayPull = Callable[[str], bool]


@dataclass(frozen=True)
class Refs:
    """What a manifest references: blobs (config, layers) and child manifests."""

    blobs: tuple[str, ...] = ()
    manifests: tuple[str, ...] = ()


@dataclass(frozen=True)
class ManifestView:
    digest: str
    media_type: str
    artifact_type: str | None
    size: int  # the manifest's own bytes
    total: int | None  # + the distinct blobs (and child manifests) it references; None: references unknown
    tags: tuple[str, ...]
    subject: str | None
    annotations: Mapping[str, str]


@dataclass(frozen=True)
class TagView:
    tag: str
    digest: str
    total: int | None


@dataclass(frozen=True)
class BlobView:
    digest: str
    size: int
    domain: str  # the dedupe domain's name: "global", "org:<namespace>" (or a rotated one)
    shared_with: int  # other shown repositories holding the same digest


@dataclass(frozen=True)
class RepositoryView:
    name: str
    namespace: str
    private: bool
    tags: tuple[TagView, ...]
    manifests: tuple[ManifestView, ...]
    blobs: tuple[BlobView, ...]

    @property
    def size(self) -> int:
        """Bytes the repository references: every manifest and blob it holds."""
        return sum(m.size for m in self.manifests) + sum(b.size for b in self.blobs)


@dataclass(frozen=True)
class PublishState:
    root: str
    seq: int
    expires: int | None  # Unix time; None: a tree built before descriptors expired
    ipns_name: str | None  # published by IPNS under this name; None: DNSLink /ipfs/<root>
    ipns_current: bool = False  # the IPNS record still verifies and points at `root`

    @property
    def via(self) -> str:
        return "ipns" if self.ipns_name else "dnslink"


@dataclass(frozen=True)
class NamespaceView:
    name: str
    configured: bool
    publish: PublishState | None
    repositories: tuple[RepositoryView, ...]

    @property
    def size(self) -> int:
        return sum(r.size for r in self.repositories)


@dataclass(frozen=True)
class SharedBlob:
    """A blob (layer or config) held by more than one shown repository."""

    digest: str
    size: int
    repositories: tuple[str, ...]
    copies: int  # stored once per dedupe domain it is in

    @property
    def saved(self) -> int:
        return self.size * (len(self.repositories) - self.copies)


@dataclass(frozen=True)
class Overview:
    namespaces: tuple[NamespaceView, ...]
    shared: tuple[SharedBlob, ...]
    referenced: int  # bytes the shown repositories reference (each repository's size, summed)
    stored: int  # bytes stored for them: each (digest, domain) once

    @property
    def saved(self) -> int:
        return self.referenced - self.stored

    def repository(self, name: str) -> RepositoryView | None:
        for ns in self.namespaces:
            for repo in ns.repositories:
                if repo.name == name:
                    return repo
        return None


@dataclass
class Content:
    """The index rows the page is made of (`Index.browse_content`)."""

    blobs: list[tuple[str, BlobRecord]] = field(default_factory=list)
    manifests: list[tuple[ManifestRecord, str]] = field(default_factory=list)
    tags: list[tuple[str, str, str]] = field(default_factory=list)


def build_overview(content: Content, refs: Mapping[str, Refs | None], may_pull: MayPull,
                   is_private: Callable[[str], bool] = lambda repo: False, configured: Iterable[str] = (),
                   states: Mapping[str, PublishState] | None = None) -> Overview:
    """The page's data: `content` cut down to the repositories `may_pull` allows.

    `refs` maps a manifest digest to what it references (None or absent:
    unknown, its total is then None); `configured` are the namespaces of the
    config, shown even when they hold nothing the viewer may see; `states`
    the namespaces' publish states."""
    states = states or {}
    names = {repo for repo, _ in content.blobs} | {m.repo for m, _ in content.manifests} | \
        {repo for repo, _, _ in content.tags}
    shown = {name for name in names if may_pull(name)}

    blobs: dict[str, dict[str, BlobRecord]] = {}
    holders: dict[str, set[str]] = {}
    for repo, blob in content.blobs:
        if repo in shown:
            blobs.setdefault(repo, {})[blob.digest] = blob
            holders.setdefault(blob.digest, set()).add(repo)
    manifests: dict[str, dict[str, ManifestRecord]] = {}
    for record, _ in content.manifests:
        if record.repo in shown:
            manifests.setdefault(record.repo, {})[record.digest] = record
    tags: dict[str, list[tuple[str, str]]] = {}
    for repo, tag, digest in content.tags:
        if repo in shown:
            tags.setdefault(repo, []).append((tag, digest))

    repositories: dict[str, RepositoryView] = {}
    for name in sorted(shown):
        held, mans = blobs.get(name, {}), manifests.get(name, {})
        totals = {digest: _total(digest, mans, held, refs) for digest in mans}
        tagged: dict[str, list[str]] = {}
        for tag, digest in tags.get(name, []):
            tagged.setdefault(digest, []).append(tag)
        repositories[name] = RepositoryView(
            name, namespace_of(name), is_private(name),
            tuple(TagView(tag, digest, totals.get(digest)) for tag, digest in tags.get(name, [])),
            tuple(ManifestView(m.digest, m.media_type, m.artifact_type, m.size, totals[m.digest],
                               tuple(tagged.get(m.digest, ())), m.subject, dict(m.annotations or {}))
                  for m in mans.values()),
            tuple(BlobView(b.digest, b.size, b.domain, len(holders[b.digest]) - 1)
                  for b in sorted(held.values(), key=lambda b: b.digest)))

    by_ns: dict[str, list[RepositoryView]] = {}
    for repo in repositories.values():
        by_ns.setdefault(repo.namespace, []).append(repo)
    configured = set(configured)
    # A namespace's publish state (its root: the gateway serves that tree) only to a
    # viewer who may pull something in it; a configured one is otherwise just named.
    namespaces = tuple(NamespaceView(ns, ns in configured, states.get(ns) if ns in by_ns else None,
                                     tuple(by_ns.get(ns, ())))
                       for ns in sorted(set(by_ns) | configured))

    stored: dict[tuple[str, str], int] = {}
    for repo in shown:
        for b in blobs.get(repo, {}).values():
            stored[(b.digest, b.domain)] = b.size
        for m in manifests.get(repo, {}).values():
            stored[(m.digest, m.domain)] = m.size
    shared = []
    for digest, repos in sorted(holders.items()):
        if len(repos) > 1:
            records = [blobs[r][digest] for r in repos]
            shared.append(SharedBlob(digest, records[0].size, tuple(sorted(repos)),
                                     len({b.domain for b in records})))
    shared.sort(key=lambda s: (-s.saved, -s.size, s.digest))
    return Overview(namespaces, tuple(shared), sum(r.size for r in repositories.values()), sum(stored.values()))


def _total(digest: str, manifests: Mapping[str, ManifestRecord], blobs: Mapping[str, BlobRecord],
           refs: Mapping[str, Refs | None]) -> int | None:
    """A manifest's bytes plus what it references in its repository, each blob once."""
    seen_blobs: set[str] = set()
    seen_manifests: set[str] = set()
    total = 0
    pending = [digest]
    while pending:
        current = pending.pop()
        if current in seen_manifests:
            continue
        seen_manifests.add(current)
        record = manifests.get(current)
        if record is None:
            continue  # a child manifest the repository does not hold
        ref = refs.get(current)
        if ref is None:
            return None
        total += record.size
        for blob in ref.blobs:
            if blob in blobs and blob not in seen_blobs:
                seen_blobs.add(blob)
                total += blobs[blob].size
        pending.extend(ref.manifests)
    return total


def publish_state(seq: int, root: str, expires: int | None, ipns: str | None, record: bytes | None,
                  now: datetime | None = None) -> PublishState:
    """A namespace's publish state from its index row: IPNS when it has a record
    (current when the record verifies and names this root), else DNSLink."""
    current = False
    if ipns is not None and record is not None:
        try:
            current = parse_record(record, ipns, now or datetime.now(timezone.utc)).value == f"/ipfs/{root}"
        except IpnsError:
            current = False
    return PublishState(root, seq, expires, ipns, current)


class Browser:
    """The browse page's data source: the registry's index and store, and the
    references of every manifest read so far (manifests never change, so they
    are read once per digest)."""

    CACHE_SIZE = 4096
    SCAN_TTL = 5.0
    """Seconds one scan of the index serves every page (each viewer's cut of it
    is made per request): however many requests come, anonymous ones
    included, the index is scanned at most once per this interval."""

    def __init__(self, registry: "Registry", clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self._refs: OrderedDict[str, Refs] = OrderedDict()
        self._clock = clock
        self._scan: tuple[float, tuple] | None = None
        self._scanning = asyncio.Lock()

    async def _content(self) -> tuple:
        async with self._scanning:  # concurrent requests wait for one scan, never start their own
            if self._scan is None or self._clock() - self._scan[0] >= self.SCAN_TTL:
                self._scan = (self._clock(), await self.registry.index.browse_content())
            return self._scan[1]

    async def overview(self, may_pull: MayPull) -> Overview:
        index = self.registry.index
        blobs, manifests, tags = await self._content()
        content = Content(blobs, manifests, tags)
        refs: dict[str, Refs | None] = {}
        for record, content_id in manifests:
            if record.digest not in refs and may_pull(record.repo):
                refs[record.digest] = await self._references(record, content_id)
        states = {ns: publish_state(*row) for ns, row in (await index.publish_states()).items()}
        policy = self.registry.policy
        return build_overview(content, refs, may_pull, policy.is_private, policy.configured(), states)

    async def _references(self, record: ManifestRecord, content_id: str) -> Refs | None:
        cached = self._refs.get(record.digest)
        if cached is not None:
            self._refs.move_to_end(record.digest)
            return cached
        stored = BlobRecord(record.digest, record.size, content_id, record.domain)
        try:
            info = mf.parse_manifest(await self.registry.read_manifest(stored), record.media_type)
        except (RegistryError, StorageError, IntegrityError) as exc:
            log.warning("browse: cannot read manifest %s: %s", record.digest, exc)
            return None
        refs = Refs(tuple(info.blobs), tuple(info.manifests))
        self._refs[record.digest] = refs
        while len(self._refs) > self.CACHE_SIZE:
            self._refs.popitem(last=False)
        return refs
