"""Pulling another organisation's namespace (docs/format.md §8 "Federation"):
`/v2/acme.test/app/…` on a registry that does not own `acme.test` is served
from acme.test's published tree, found through DNS, fetched over IPFS.

The order of trust, per namespace:

1. `publish.resolver` finds the root, the signing key and the hints in DNS
   (a claim only);
2. the tree's descriptor must be signed by that key — or by the key it was
   rotated to, the rotation countersigned by it (docs/format.md §8.6) — for
   this namespace, unexpired, with a `seq` no lower than the highest this
   registry has seen (kept in the index: no rollback across restarts),
   before anything else in the tree is read. A key this registry has seen
   rotated away from is never trusted again: DNS naming it means the
   successor is trusted instead;
3. a public repository is read from the tree; a private one only by opening
   its envelope, found through this registry's own index in the tree, with
   one of its own org keys, bound to the repository's name;
4. every block is checked against its CID (the store's `get_block`, or the
   gateway fetcher), every manifest against its digest, every blob end to
   end against its digest (`content.read_verified`); a blob is pinned on Kubo
   only after it verified.

A verified namespace is cached for its DNS TTL (clamped to a floor and a
ceiling); nothing that failed verification is cached.

What one request may read of a tree is bounded (`max_tree_size`): each public
method reads within one budget (`reader.read_budget`), and a tree that
would take more is refused with DENIED, saying so.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, ContextManager, TypeVar

from sealedreg.crypto.convergent import plain_size_of
from nacl.signing import VerifyKey

from sealedreg.crypto import envelope_v1
from sealedreg.crypto.envelope import EnvelopeError
from sealedreg.crypto.keys import KeyError_, OrgKeys, parse_tagged
from sealedreg.metrics import FEDERATION_DURATION, FEDERATION_RESOLUTIONS
from sealedreg.publish import layout
from sealedreg.publish.descriptor import Descriptor, DescriptorError
from sealedreg.publish.reader import (MAX_TREE_SIZE, ReadBudget, TreeReader, TreeReadError, TreeTooLarge,
                                      read_budget)
from sealedreg.publish.resolver import (Discovery, NamespaceRefused, NamespaceUnavailable, ResolveError, Resolver,
                                        TtlCache)
from sealedreg.publish.sealing import PrivateRepository
from sealedreg.registry import content
from sealedreg.registry import manifests as mf
from sealedreg.registry.digests import Digest, is_digest
from sealedreg.registry.domains import GLOBAL, Domains, namespace_of
from sealedreg.registry.errors import (BlobUnknown, Denied, IntegrityError, ManifestInvalid, ManifestUnknown,
                                       NameUnknown, Unavailable)
from sealedreg.registry.index import BlobRecord, Index, ManifestRecord
from sealedreg.registry.policy import Policy
from sealedreg.registry.refs import read_reference
from sealedreg.storage.base import BlobStore, ContentMissing, StorageError, StorageUnavailable, content_size
from sealedreg.storage.kubo_rpc import KuboClient, KuboError
from sealedreg.storage.remote import FetchingStore, GatewayFetcher

log = logging.getLogger("sealedreg.federation")

T = TypeVar("T")

REMOTE = "remote"
"""The `domain` of records that describe foreign content (it has no local domain)."""

MAX_OPENED = 256
"""Private repositories (opened or known unopenable) remembered per mounted namespace."""

MAX_REFERRER_SCAN = 1000
"""Manifests of one foreign repository scanned for referrers (trees keep no referrers index)."""


@dataclass(frozen=True)
class FederationSettings:
    federate: tuple[str, ...] = ()  # namespace globs that may be pulled ("*": any domain)
    nameserver: str | None = None  # "HOST:PORT"; None: the system resolver
    timeout: float = 20.0  # the bound on each step that waits on the network
    cache_min: float = 5.0
    cache_max: float = 3600.0
    max_tree_size: int = MAX_TREE_SIZE  # tree bytes one request may read (0: no limit)


@dataclass(frozen=True)
class ForeignBlob(BlobRecord):
    """A blob of a foreign namespace: where it is and the key that opens it."""

    key: bytes = field(default=b"", repr=False)
    namespace: str = ""


@dataclass
class Mounted:
    """A foreign namespace whose descriptor verified."""

    discovery: Discovery
    reader: TreeReader
    source: Any  # a BlobStore read side: the Kubo store, or a FetchingStore over gateways
    descriptor: Descriptor

    @property
    def seq(self) -> int:
        return self.descriptor.seq

    @property
    def expires(self) -> int:
        return self.descriptor["expires"]
    private: dict[str, PrivateRepository | None] = field(default_factory=dict)


def federates(settings: FederationSettings, policy: Policy, namespace: str) -> bool:
    """Whether `namespace` is pulled from elsewhere: a domain this registry does
    not own, that the config lets it federate."""
    if "." not in namespace or policy.owns(namespace):
        return False
    return any(fnmatch.fnmatchcase(namespace, glob) for glob in settings.federate)


class Federation:
    def __init__(self, settings: FederationSettings, index: Index, store: BlobStore, domains: Domains,
                 policy: Policy, kubo: KuboClient | None = None, fetcher: GatewayFetcher | None = None,
                 keys: list[OrgKeys] | None = None) -> None:
        self.settings = settings
        self.index = index
        self.store = store
        self.domains = domains
        self.policy = policy
        self.kubo = kubo
        self.fetcher = fetcher if fetcher is not None else GatewayFetcher(settings.timeout)
        self.keys = list(keys or []) + [k for k in policy.org_keys() if k not in (keys or [])]
        self.resolver = Resolver(settings.nameserver, settings.timeout, self.fetcher,
                                 kubo.name_resolve if kubo is not None else None)
        self._cache: TtlCache[str, Mounted] = TtlCache(settings.cache_min, settings.cache_max)
        self._locks: dict[str, asyncio.Lock] = {}
        self._dials: set[asyncio.Task] = set()

    async def aclose(self) -> None:
        for task in self._dials:
            task.cancel()
        await asyncio.gather(*self._dials, return_exceptions=True)
        await self.fetcher.aclose()

    # -- which namespaces ---------------------------------------------------
    def serves_namespace(self, namespace: str) -> bool:
        return federates(self.settings, self.policy, namespace)

    def serves(self, repo: str) -> bool:
        return self.serves_namespace(namespace_of(repo))

    def refuse_write(self, repo: str) -> None:
        if self.serves(repo):
            raise Denied(f"{namespace_of(repo)} is another organisation's namespace, pulled through DNS: "
                         "push to its own registry")

    # -- the namespace ------------------------------------------------------
    async def mount(self, namespace: str) -> Mounted:
        """The namespace's verified tree (cached for its TTL). Concurrent requests
        mount it once, one at a time, and the wait for the lock counts against the
        timeout: otherwise, while a source hangs, the n-th of n parallel layer
        requests would wait n timeouts. Counted: hit (cached), miss (resolved
        now) or error, and timed."""
        started = time.perf_counter()
        result = "error"
        try:
            with self._budget():
                mounted, resolved = await self._mount_cached(namespace)
            result = "miss" if resolved else "hit"
            return mounted
        finally:
            FEDERATION_RESOLUTIONS.labels(result).inc()
            FEDERATION_DURATION.labels(result).observe(time.perf_counter() - started)

    async def _mount_cached(self, namespace: str) -> tuple[Mounted, bool]:
        """The mounted namespace, and whether this call resolved it (not the cache)."""
        mounted = self._cache.get(namespace)
        if mounted is not None:
            return mounted, False
        lock = self._locks.setdefault(namespace, asyncio.Lock())

        async def locked() -> tuple[Mounted, bool]:
            async with lock:
                mounted = self._cache.get(namespace)
                if mounted is None:
                    mounted = await self._mount(namespace)
                    # never kept past the descriptor's expiry, whatever the DNS TTL says
                    ttl = min(mounted.discovery.ttl, mounted.expires - time.time())
                    kept = self._cache.put(namespace, mounted, ttl)
                    log.info("federation: %s is tree %s (seq %d), kept %.0fs", namespace, mounted.discovery.root,
                             mounted.seq, kept)
                    return mounted, True
                return mounted, False

        try:
            return await self._bounded(locked(), f"resolving {namespace}")
        finally:
            if not lock.locked() and self._locks.get(namespace) is lock:
                del self._locks[namespace]  # one lock per namespace being resolved, not per name ever asked

    async def _mount(self, namespace: str) -> Mounted:
        discovery = await self.resolver.discover(namespace)
        source = await self._source(discovery)
        reader = TreeReader(source.get_block, discovery.root, namespace)
        doc = await self._verify(namespace, discovery, reader, record=True)
        if isinstance(source, FetchingStore):
            await source.verified()  # every block below a verified root is bound to it by CIDs: worth keeping
        return Mounted(discovery, reader, source, doc)

    async def trusted_key(self, namespace: str, dns_key: str) -> str:
        """The key to trust for `namespace` when DNS names `dns_key`: that key,
        or — if its publisher has been seen rotating away from it — the key it
        rotated to (and so on, a few rotations at most)."""
        key = dns_key
        for _ in range(8):
            successor = await self.index.successor(namespace, key)
            if successor is None:
                break
            key = successor
        return key

    async def _verify(self, namespace: str, discovery: Discovery, reader: TreeReader, record: bool) -> Descriptor:
        """The tree's descriptor, verified against the key this registry trusts
        for the namespace; with `record`, the seq seen and any rotation followed
        are remembered (a diagnostic `resolve` remembers nothing)."""
        dns_key = discovery.keys.sig_text
        key = await self.trusted_key(namespace, dns_key)
        try:
            trusted = VerifyKey(parse_tagged(key, "ed25519"))
        except KeyError_ as exc:
            raise NamespaceRefused(f"{namespace}: a malformed trusted key: {exc}") from None
        seen = await self.index.seen_seq(namespace, key)
        try:
            doc = await reader.descriptor(trusted, min_seq=seen, now=time.time())
        except DescriptorError as exc:
            why = str(exc)
            if key != dns_key:
                why += (f" (DNS names {dns_key}, which the publisher rotated away from to {key}: "
                        "a tree signed only by the old key is refused)")
            raise NamespaceRefused(f"{namespace}: the tree DNS points at is refused: {why}") from None
        except TreeReadError as exc:
            raise NamespaceRefused(f"{namespace}: {discovery.root} is not a sealedreg tree: {exc}") from None
        if record:
            if doc.rotated_from is not None:
                await self.index.record_rotation(namespace, doc.rotated_from, doc.signer, doc.seq)
                log.warning("federation: %s rotated its signing key from %s to %s at seq %d; following",
                            namespace, doc.rotated_from, doc.signer, doc.seq)
            await self.index.see_seq(namespace, doc.signer, doc.seq)
        return doc

    async def _source(self, discovery: Discovery) -> Any:
        """Where the namespace's blocks come from: this registry's Kubo node,
        told to keep a connection to the publisher's node, or (embedded) the
        publisher's trustless gateways, each block checked."""
        if self.kubo is not None:
            for addr in discovery.hints.ipfsnodes:
                try:
                    await self.kubo.peering_add(addr)
                except KuboError as exc:
                    log.warning("federation: %s: cannot peer with %s: %s", discovery.namespace, addr, exc)
                self._dial(self.kubo, discovery.namespace, addr)
            return self.store
        gateways = discovery.hints.gateways
        if not gateways:
            raise NamespaceUnavailable(f"{discovery.namespace} names no gateway= in its _sealedreg record, "
                                       "and this registry has no IPFS node to fetch with")
        return FetchingStore(self.store, lambda cid: self._fetch(cid, gateways))

    async def _fetch(self, cid: str, gateways: tuple[str, ...]) -> bytes:
        """A block of a foreign tree from its gateways. One that none of them
        has is unavailable (503, retry), not missing: the signed tree names it,
        so its publisher is meant to serve it — and a ContentMissing under a blob
        read would turn into IntegrityError ("failed verification", a 500)."""
        try:
            return await self.fetcher.block(cid, gateways)
        except ContentMissing as exc:
            raise StorageUnavailable(str(exc)) from None

    def _dial(self, kubo: KuboClient, namespace: str, addr: str) -> None:
        """Connect to the publisher's node now (again on every mount), in the
        background. Kubo's peering service (`peering_add`, which keeps the
        connection up later) first dials only after seconds (about 12 measured
        with Kubo 0.43.1), longer than a short `federation_timeout`, so a first
        pull would fail. Not awaited, so a node that is down or slow to dial never
        holds up reads whose blocks are already local or come from other peers."""
        async def dial() -> None:
            try:
                await kubo.swarm_connect(addr)
            except Exception as exc:  # noqa: BLE001 - a background task: log, never leak
                log.info("federation: %s: cannot connect to %s now: %s", namespace, addr, exc)

        task = asyncio.get_running_loop().create_task(dial())
        self._dials.add(task)  # a reference until it is done: the loop keeps only weak ones
        task.add_done_callback(self._dials.discard)

    def _budget(self) -> ContextManager[ReadBudget]:
        """The tree bytes this request may read (one budget however its steps nest)."""
        return read_budget(self.settings.max_tree_size)

    async def _bounded(self, work: Awaitable[T], what: str) -> T:
        """`work` within the federation timeout, its failures as OCI errors."""
        try:
            return await asyncio.wait_for(work, self.settings.timeout)
        except TreeTooLarge as exc:
            # Not NAME_UNKNOWN: the tree may well be fine, only larger than this registry
            # reads for one request; retrying will not change it, raising the limit will.
            log.warning("federation: refused: %s", exc)
            raise Denied(str(exc), detail={"namespace": exc.namespace, "max_tree_size": exc.limit}) from None
        except asyncio.TimeoutError:
            raise Unavailable(f"{what}: no answer within {self.settings.timeout:g}s") from None
        except ResolveError as exc:
            if exc.transient:
                raise Unavailable(str(exc)) from None
            raise NameUnknown(str(exc), detail={"namespace": what.rpartition(" ")[2]}) from None
        except StorageUnavailable as exc:
            raise Unavailable(f"{what}: {exc}") from None
        except ContentMissing as exc:
            raise Unavailable(f"{what}: {exc}") from None
        except (StorageError, ValueError) as exc:  # malformed remote content: never a 500
            raise NameUnknown(f"{what}: the published tree is malformed: {exc}",
                              detail={"namespace": what.rpartition(" ")[2]}) from None

    async def report(self, namespace: str) -> dict:
        """What `sealedreg resolve` prints: what DNS says, whether the tree
        verifies, and which private repositories this registry's keys open.
        Diagnostic: it ignores `federate`, caches nothing and raises no seen seq."""
        try:
            discovery = await asyncio.wait_for(self.resolver.discover(namespace), self.settings.timeout)
        except asyncio.TimeoutError:
            raise NamespaceUnavailable(f"{namespace}: no answer within {self.settings.timeout:g}s") from None
        out: dict = {"namespace": namespace, "dnslink": str(discovery.link), "root": discovery.root,
                     "seq": None, "expires": None, "ttl": discovery.ttl,
                     "keys": {"sig": discovery.keys.sig_text, "box": discovery.keys.box_text},
                     "hints": discovery.hints.as_dict(), "verified": False, "private": []}
        if discovery.ipns_sequence is not None:
            out["ipns_sequence"] = discovery.ipns_sequence

        async def verify() -> None:
            source = await self._source(discovery)
            reader = TreeReader(source.get_block, discovery.root, namespace)
            try:
                doc = await self._verify(namespace, discovery, reader, record=False)
            except NamespaceRefused as exc:
                out["error"] = str(exc)
                return
            out.update(seq=doc.seq, expires=doc["expires"], verified=True, format=doc.version, signer=doc.signer)
            if doc.rotated_from:
                out["rotated_from"] = doc.rotated_from
            try:
                names = await reader.names(layout.SEALED)
            except TreeReadError:
                names = []
            envelopes = sorted(n[:-len(".json")] for n in names if n.endswith(".json"))
            out["sealed"] = len(envelopes)
            if doc.version >= 2:
                out["private"] = await self._own_entries(reader)
                return
            for name in envelopes:
                try:
                    raw = await reader.file(layout.envelope_path(name))
                except TreeReadError as exc:
                    out["private"].append({"envelope": name, "opens": False, "error": str(exc)})
                    continue
                out["private"].append(self._try_open_v1(raw, namespace, name, doc))

        try:
            with self._budget():
                await asyncio.wait_for(verify(), self.settings.timeout)
        except (asyncio.TimeoutError, StorageError, ResolveError, TreeTooLarge) as exc:
            out["error"] = f"cannot read the tree: {str(exc) or 'no answer in time'}"
        return out

    async def _own_entries(self, reader: TreeReader) -> list[dict]:
        """{"envelope", "repo", "opens", "key"} for each repository our own indexes
        list in a v2 tree (envelopes for others cannot even be told apart)."""
        out = []
        for keys in self.keys:
            for entry in await reader.private_entries(keys):
                item = {"envelope": entry.envelope, "repo": entry.repo, "opens": False, "key": keys.name}
                try:
                    item["opens"] = await reader.open_private(entry.repo, [keys]) is not None
                except (EnvelopeError, TreeReadError) as exc:
                    item["error"] = str(exc)
                out.append(item)
        return out

    def _try_open_v1(self, raw: bytes, namespace: str, envelope: str, doc: Descriptor) -> dict:
        """{"envelope", "repo" (when one of our keys opens it), "opens"} for a v1 envelope."""
        publisher = VerifyKey(parse_tagged(doc.signer, "ed25519"))
        for keys in self.keys:
            for box in keys.box_keys():
                try:
                    opened = envelope_v1.open_envelope(raw, publisher=publisher, recipient=box, namespace=namespace,
                                                       envelope_id=envelope, min_seq=doc.seq)
                except EnvelopeError:
                    continue
                repo = opened.payload.get("repo")
                if isinstance(repo, str) and layout.v1_envelope_id(namespace, repo) == envelope:
                    return {"envelope": envelope, "repo": repo, "opens": True, "key": keys.name}
        return {"envelope": envelope, "opens": False}

    # -- repositories -------------------------------------------------------
    async def _private(self, mounted: Mounted, repo: str) -> PrivateRepository | None:
        """The opened envelope of `repo` (None: no envelope, or none we can open)."""
        if repo in mounted.private:
            return mounted.private[repo]
        opened = None
        try:
            # found through our own index; refused when older than the tree (every publish re-seals
            # every envelope under its seq), so an older, validly signed envelope put beside the
            # current descriptor does not open
            envelope = await mounted.reader.open_private(repo, self.keys)
            if envelope is not None:
                opened = PrivateRepository.from_payload(envelope.payload)
        except EnvelopeError as exc:
            log.warning("federation: %s: the envelope of a private repository is refused: %s",
                        mounted.reader.namespace, exc)
        if len(mounted.private) >= MAX_OPENED:
            mounted.private.clear()  # names asked for are caller-chosen: the cache must not grow with them
        mounted.private[repo] = opened
        return opened

    async def _is_public(self, mounted: Mounted, repo: str) -> bool:
        try:
            names = await mounted.reader.names(f"repos/{repo}")
        except TreeReadError:
            return False
        return "manifests" in names or "tags" in names

    async def _repo(self, repo: str) -> tuple[Mounted, PrivateRepository | None]:
        """(the namespace, the opened private repository or None when public);
        NAME_UNKNOWN when the tree has no such repository this registry may read."""
        mounted = await self.mount(namespace_of(repo))

        async def find() -> tuple[Mounted, PrivateRepository | None]:
            if await self._is_public(mounted, repo):
                return mounted, None
            private = await self._private(mounted, repo)
            if private is None:
                raise NameUnknown(detail={"name": repo})
            return mounted, private

        return await self._bounded(find(), f"reading {repo}")

    # -- manifests and tags -------------------------------------------------
    async def resolve(self, repo: str, reference: str) -> str:
        with self._budget():
            return await self._resolve(repo, reference)

    async def _resolve(self, repo: str, reference: str) -> str:
        mounted, private = await self._repo(repo)
        ref = read_reference(reference)
        if isinstance(ref, Digest):
            return str(ref)
        if private is not None:
            digest = private.tags.get(ref)
        else:
            try:
                digest = (await self._bounded(mounted.reader.tag(repo, ref), f"reading {repo}")).strip()
            except (TreeReadError, NameUnknown):
                digest = None
        if digest is None or not is_digest(digest):
            raise ManifestUnknown(detail={"tag": ref})
        return digest

    async def manifest(self, repo: str, reference: str) -> tuple[ManifestRecord, bytes]:
        """A foreign manifest's record and exact bytes, checked against its digest."""
        with self._budget():
            digest = await self._resolve(repo, reference)
            mounted, private = await self._repo(repo)
            if private is not None:
                found = private.manifests.get(digest)
                if found is None:
                    raise ManifestUnknown(detail={"digest": digest})
                body = found[1]
            else:
                try:
                    body = await self._bounded(mounted.reader.manifest(repo, digest), f"reading {repo}")
                except TreeReadError:
                    raise ManifestUnknown(detail={"digest": digest}) from None
        return self._checked(repo, digest, body), body

    def _checked(self, repo: str, digest: str, body: bytes) -> ManifestRecord:
        """The record of a foreign manifest, once its bytes match `digest`."""
        if str(Digest.of(body, Digest.parse(digest).algorithm)) != digest:
            raise IntegrityError(f"{repo}@{digest}: the published manifest does not match its digest")
        info = mf.parse_manifest(body, None)
        return ManifestRecord(repo, digest, REMOTE, info.media_type, len(body), info.subject, info.artifact_type,
                              info.annotations)

    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str]:
        with self._budget():
            mounted, private = await self._repo(repo)
            if private is not None:
                tags = sorted(private.tags)
            else:
                try:
                    tags = sorted(await self._bounded(mounted.reader.names(f"repos/{repo}/tags"),
                                                      f"reading {repo}"))
                except TreeReadError:
                    tags = []
        if last is not None:
            tags = [t for t in tags if t > last]
        return tags[:limit] if limit is not None else tags

    async def referrers(self, repo: str, subject: str, artifact_type: str | None) -> list[ManifestRecord]:
        """The manifests of `repo` whose subject is `subject` (a scan: trees keep no referrers index).
        The manifests directory is read once and each manifest by its CID, so the tree bytes
        a scan reads grow with the manifests it reads, not with their square."""
        with self._budget():
            mounted, private = await self._repo(repo)
            entries: dict[str, Any] = {}
            if private is not None:
                digests = list(private.manifests)
            else:
                try:
                    entries = await self._bounded(mounted.reader.entries(f"repos/{repo}/manifests"),
                                                  f"reading {repo}")
                except TreeReadError:
                    pass
                digests = list(entries)
            found = []
            for digest in [d for d in digests if is_digest(d)][:MAX_REFERRER_SCAN]:
                try:
                    if str(read_reference(digest)) != digest:
                        continue  # not a digest as the registry writes one: no manifest of this repository
                except ManifestUnknown:
                    continue
                if private is not None:
                    body = private.manifests[digest][1]
                else:
                    path = layout.manifest_path(repo, digest)
                    try:
                        body = await self._bounded(mounted.reader.file_at(entries[digest], path), f"reading {repo}")
                    except TreeReadError:
                        continue
                try:
                    record = self._checked(repo, digest, body)
                except (ManifestInvalid, IntegrityError):
                    continue  # one bad entry does not hide the others
                if record.subject == subject and (artifact_type is None or record.artifact_type == artifact_type):
                    found.append(record)
            return found

    # -- blobs --------------------------------------------------------------
    async def stat_blob(self, repo: str, digest: Digest) -> ForeignBlob:
        with self._budget():
            return await self._stat_blob(repo, digest)

    async def _stat_blob(self, repo: str, digest: Digest) -> ForeignBlob:
        mounted, private = await self._repo(repo)
        text = str(digest)
        if private is not None:
            layer = private.layers.get(text)
            if layer is None:
                raise BlobUnknown(detail={"digest": text})
            return ForeignBlob(text, layer.size, layer.cid, REMOTE, key=layer.key, namespace=namespace_of(repo))

        async def public() -> ForeignBlob:
            try:
                cid = await mounted.reader.cid(layout.blob_path(text))
            except TreeReadError:
                raise BlobUnknown(detail={"digest": text}) from None
            size = plain_size_of(content_size(str(cid), await mounted.source.get_block(str(cid))))
            return ForeignBlob(text, size, str(cid), REMOTE, key=self.domains.content_key(text, GLOBAL),
                               namespace=namespace_of(repo))

        return await self._bounded(public(), f"reading {repo}")

    async def read_blob(self, blob: ForeignBlob, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """The blob's plaintext, verified as it streams; on Kubo, pinned once a
        whole read verified (a ranged read proves only the leaves it read)."""
        mounted = await self.mount(blob.namespace)
        stream = content.read_verified(mounted.source, blob.content_id, blob.key, blob.digest, blob.size,
                                       offset, length)
        whole = offset == 0 and (length is None or length == blob.size)
        async with aclosing(stream) as pieces:
            while True:
                try:
                    piece = await asyncio.wait_for(anext(pieces), self.settings.timeout)
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    # A source that went quiet is unavailable, not corrupt: before the
                    # first byte the API answers 503 (it takes the first piece before
                    # it answers), after it the response is cut short either way.
                    raise Unavailable(f"{blob.digest}: no block within {self.settings.timeout:g}s") from None
                yield piece
        if whole and self.kubo is not None:
            try:
                await self.store.retain(blob.content_id)
            except StorageError as exc:
                log.warning("federation: cannot pin %s: %s", blob.content_id, exc)
