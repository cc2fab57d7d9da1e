"""The registry model's one door: every operation the API and the CLI offer,
with no HTTP in it.

It ties the index (what exists, and where), the upload sessions, the
content path (`content`: encryption on the way in, verification on the way
out), the namespace tree (`sealedreg.publish`) and the storage seam
together, and owns the invariants of docs/format.md §2–§3 and docs/api.md: a
blob is encrypted only after its digest verifies, and becomes visible only
once its ciphertext DAG is durable; a manifest is stored byte-exact and only
when what it references is present; nothing is streamed to a client without
being checked. Nothing outside the registry package touches the index, the
store or the upload sessions: the API and the CLI come through this class
(and `transfer`, the model's CAR export and import, which works beside it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, Awaitable, Callable

from anyio import to_thread
from nacl.public import PublicKey

from sealedreg.crypto.keys import b64, kid
from sealedreg.metrics import DEDUPE_HITS, UPLOADS_IN_FLIGHT, in_progress
from sealedreg.publish.builder import TreeState, build_tree
from sealedreg.registry import content
from sealedreg.registry import manifests as mf
from sealedreg.registry.digests import DEFAULT_ALGORITHM, Digest
from sealedreg.publish.dnslink import DnsLink
from sealedreg.publish.ipns import ipns_name
from sealedreg.registry.domains import GLOBAL, Domain, Domains, namespace_of
from sealedreg.registry.federation import Federation, ForeignBlob
from sealedreg.registry.publishing import (Announce, PublishTarget, hints_of, ipns_record, records_for, require_keys,
                                         update_dns)
from sealedreg.registry.errors import (
    BlobUnknown,
    IntegrityError,
    Unavailable,
    DigestInvalid,
    ManifestBlobUnknown,
    ManifestUnknown,
    NameInvalid,
    NameUnknown,
    RegistryError,
    TooLarge,
)
from sealedreg.registry.index import BlobRecord, Index, ManifestRecord
from sealedreg.registry.landing import LandingBlob, Landings, Pending
from sealedreg.registry.namespace import snapshot
from sealedreg.registry.policy import Policy
from sealedreg.registry.refs import parse_reference, read_reference, validate_name, validate_pushable, validate_tag
from sealedreg.registry.sweeplock import NoSweepLock, SweepLock
from sealedreg.registry.uploads import Session, Uploads
from sealedreg.storage.base import BlobStore, ContentId, ContentMissing
from sealedreg.storage.cid import CID, CIDError
from sealedreg.storage.kubo_rpc import KuboClient


TREE_LIFETIME = 7 * 86400.0
"""How long a published descriptor stays valid (docs/format.md §6): long
enough to outlive a publisher's downtime, short enough to bound a replay."""


SETTLE_TIMEOUT = 120.0
"""How long publishing, exporting, GC and fsck wait for acknowledged blobs to
be stored (docs/format.md §2): far longer than encrypting any layer takes."""


@dataclass(frozen=True)
class StoredManifest:
    record: ManifestRecord
    body: bytes


@dataclass(frozen=True)
class PutManifestResult:
    digest: str
    tags: list[str]
    subject: str | None


class Registry:
    def __init__(self, index: Index, uploads: Uploads, store: BlobStore, domains: Domains | None = None,
                 policy: Policy | None = None, tree_lifetime: float = TREE_LIFETIME,
                 federation: Federation | None = None, kubo: KuboClient | None = None,
                 sweep_lock: SweepLock | NoSweepLock | None = None,
                 max_manifest_size: int = mf.MAX_MANIFEST_BYTES, background_min: int | None = None,
                 auto_mount: bool = False) -> None:
        self.tree_lifetime = tree_lifetime
        self.max_manifest_size = min(max_manifest_size, mf.MAX_MANIFEST_BYTES)  # what trees and pullers take
        # Held shared from looking content up to recording it; GC sweeps holding it exclusively.
        self.sweep_lock = sweep_lock if sweep_lock is not None else NoSweepLock()
        self.kubo = kubo  # the IPFS node behind the store, if any: IPNS, peering, the ipfsnode= hint
        self.on_change: Callable[[str], None] = lambda namespace: None  # `publish = "auto"` listens here
        self.federation = federation
        self.index = index
        self.uploads = uploads
        self.store = store
        self.domains = domains or Domains()
        self.policy = policy or Policy()
        self._storing: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}  # (digest, domain) → lock, its users
        # Uploads of at least this many bytes are acknowledged before they are encrypted; None: never.
        self.background_min = background_min
        self.auto_mount = auto_mount  # `discover_blob`: link a blob the caller can already read elsewhere
        self.landings = Landings(self._land)

    async def ready(self, timeout: float = 2.0) -> dict[str, bool]:
        """Whether each part a request needs answers within `timeout` seconds:
        `index` (SQLite answers a query) and `store` (the block directory is
        usable; Kubo answers `id`). Why a check failed is logged, not returned."""
        async def check(name: str, probe: Callable[[], Awaitable[None]]) -> bool:
            try:
                await asyncio.wait_for(probe(), timeout)
                return True
            except Exception as exc:  # noqa: BLE001 - any failure means not ready
                logging.getLogger("sealedreg").warning("readiness: %s failed: %s: %s", name,
                                                       type(exc).__name__, exc)
                return False

        index, store = await asyncio.gather(check("index", self.index.ping), check("store", self.store.ready))
        return {"index": index, "store": store}

    async def close(self, drain: float = 30.0) -> None:
        stopped = await self.landings.drain(drain)
        if stopped:
            logging.getLogger("sealedreg").warning(
                "%d acknowledged blobs not stored yet: the next start stores them", stopped)
        if self.federation is not None:
            await self.federation.aclose()
        await self.store.close()
        self.index.close()

    async def domain_for(self, repo: str) -> Domain:
        """The dedupe domain new content of `repo` goes to. In a namespace that
        lists private repositories, its public ones use the global domain (so
        their layers dedupe network-wide) and its private ones the org domain
        (or the fresh one `revoke --rotate` gave them); otherwise a namespace's
        org secret, if any, covers all its repositories."""
        ns = self.policy.namespace(namespace_of(repo))
        if ns.private and not self.policy.is_private(repo):
            return self.domains.get(GLOBAL)
        rotated = await self.index.repo_domain(repo)
        if rotated is not None:
            return self.domains.get(rotated)
        return self.domains.for_repo(repo)

    def key_of(self, record: BlobRecord) -> bytes:
        """The content key of stored content: derived from its digest and its domain's secret."""
        return self.domains.content_key(record.digest, record.domain)

    # -- blobs --------------------------------------------------------------
    def serves_namespace(self, namespace: str) -> bool:
        """Whether this registry answers for `namespace`: its own, or one it federates."""
        return self.policy.owns(namespace) or (self.federation is not None
                                               and self.federation.serves_namespace(namespace))

    def _foreign(self, repo: str) -> Federation | None:
        """The federation, when `repo` is in a namespace pulled from another organisation."""
        return self.federation if self.federation is not None and self.federation.serves(repo) else None

    def _writable(self, repo: str, pushing: bool = False) -> None:
        """A write to `repo` may go ahead: not a federated namespace, and (for
        content pushed) a name the namespace tree can hold."""
        if self.federation is not None:
            self.federation.refuse_write(repo)
        if pushing:
            validate_pushable(repo)

    async def stat_blob(self, repo: str, digest: Digest) -> BlobRecord:
        if foreign := self._foreign(repo):
            return await foreign.stat_blob(repo, digest)
        record = await self.index.repo_blob(repo, str(digest))
        if record is None and (pending := self.landings.in_repo(repo, str(digest))) is not None:
            record = pending.record()
        if record is None:
            raise BlobUnknown(detail={"digest": str(digest)})
        self.domains.get(record.domain)  # a missing secret fails here, before any header is sent
        return record

    def read_blob(self, record: BlobRecord, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        """Plaintext of a blob, verified on the way (`content.read_verified`):
        on any mismatch the stream raises IntegrityError and is cut short."""
        if isinstance(record, ForeignBlob) and self.federation is not None:
            return self.federation.read_blob(record, offset, length)
        if isinstance(record, LandingBlob):
            return self._read_landing(record, offset, length)
        return content.read_verified(self.store, record.content_id, self.key_of(record), record.digest,
                                     record.size, offset, length)

    async def _read_landing(self, record: LandingBlob, offset: int, length: int | None) -> AsyncIterator[bytes]:
        """A blob still landing: a whole read streams its verified upload file
        (hashed again on the way); a ranged read — or one that finds the file
        gone — waits for it to land and reads the stored ciphertext."""
        if offset == 0 and (length is None or length == record.size):
            try:
                async for piece in content.read_plain_verified(record.path, record.size, record.digest):
                    yield piece
                return
            except FileNotFoundError:
                pass  # landed (and the session removed) since it was looked up
        await self._landed(record.repo, record.digest)
        stored = await self.index.repo_blob(record.repo, record.digest)  # maybe another domain's copy (auto)
        if stored is None:
            raise IntegrityError(f"{record.digest} could not be stored")
        async for piece in self.read_blob(stored, offset, length):
            yield piece

    async def _landed(self, repo: str, digest: str, timeout: float = SETTLE_TIMEOUT) -> None:
        """Wait until the blob `digest` acknowledged to `repo`, if it is landing,
        is stored; Unavailable (503) if the store keeps failing past `timeout`."""
        deadline = time.monotonic() + timeout
        while (pending := self.landings.in_repo(repo, digest)) is not None:
            try:
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.001)):
                    await pending.landed.wait()
            except TimeoutError:
                raise Unavailable(f"{digest} is not stored yet: the store keeps failing; retry later") from None

    async def delete_blob(self, repo: str, digest: Digest) -> None:
        self._writable(repo)
        await self._landed(repo, str(digest))
        if not await self.index.unlink_blob(repo, str(digest)):
            raise BlobUnknown(detail={"digest": str(digest)})

    async def mount_blob(self, repo: str, digest: Digest, from_repo: str) -> BlobRecord | None:
        """Link a blob from `from_repo` into `repo`; None if it cannot be mounted.

        A mount never moves a blob across dedupe domains: an org namespace's
        layers stay in its own domain even when a public repository has them.
        """
        self._writable(repo, pushing=True)
        await self._landed(from_repo, str(digest))  # before the lock: landing takes it too
        async with self.sweep_lock.writing():
            source = await self.index.repo_blob(from_repo, str(digest))
            if source is None:
                return None
            domain = await self.domain_for(repo)
            if source.domain != domain.name:
                # Linking would put another domain's ciphertext in this repository;
                # use this domain's copy if there is one, else let the client upload.
                source = await self.index.blob(str(digest), domain.name)
                if source is None:
                    return None
            await self.index.link_blob(repo, source)
            DEDUPE_HITS.labels("mount").inc()
            return source

    async def discover_blob(self, repo: str, digest: Digest, may_pull: Callable[[str], bool]) -> BlobRecord | None:
        """Automatic content discovery (docs/api.md, "Blobs another repository
        holds"): link into `repo` the blob `digest` that another repository of
        the same dedupe domain holds and the caller may pull (`may_pull`), as a
        mount naming it would; None when there is none (or `auto_mount` is off).

        This is what spares a client that only asks `HEAD` in the repository it
        pushes to (skopeo, docker) re-sending layers the registry already has.
        It reveals nothing a caller could not read anyway: a repository it may
        not pull never counts, and the caller must be allowed to push `repo`.
        """
        if not self.auto_mount or self._foreign(repo) is not None:
            return None
        try:
            self._writable(repo, pushing=True)
        except RegistryError:
            return None
        domain = await self.domain_for(repo)
        async with self.sweep_lock.writing():
            source = await self.index.blob(str(digest), domain.name)
            if source is None:
                return None
            holders = await self.index.repos_with_blob(str(digest), domain.name)
            if not any(holder != repo and may_pull(holder) for holder in holders):
                return None
            if not await self.store.exists(source.content_id):
                return None  # the store lost it: the client uploads it, which stores it again
            if not await self.index.link_discovered(repo, source):
                return None  # deleted here: it stays deleted until pushed or mounted by name
        DEDUPE_HITS.labels("discover").inc()
        return source

    # -- uploads ------------------------------------------------------------
    async def start_upload(self, repo: str) -> Session:
        self._writable(repo, pushing=True)
        return await self.uploads.create(repo)

    async def upload_status(self, repo: str, session_id: str) -> Session:
        return await self.uploads.get(session_id, repo)

    async def upload_chunk(self, repo: str, session_id: str, body: AsyncIterable[bytes],
                           start: int | None = None, length: int | None = None) -> Session:
        async with self.uploads.hold(session_id, repo) as session, in_progress(UPLOADS_IN_FLIGHT):
            return await self.uploads.append(session, body, start, length)

    async def commit_upload(self, repo: str, session_id: str, digest: Digest,
                            body: AsyncIterable[bytes] | None = None,
                            start: int | None = None, length: int | None = None) -> BlobRecord:
        """Take the last chunk (if any), verify, store durably, then make visible.

        The session is held throughout, so no other request can change its
        bytes between the digest check and the encryption.
        """
        async with self.uploads.hold(session_id, repo) as session, in_progress(UPLOADS_IN_FLIGHT):
            if body is not None:
                session = await self.uploads.append(session, body, start, length)
            path, size = await self.uploads.finalize(session, digest)
            domain = await self.domain_for(repo)
            if self.background_min is None or size < self.background_min:
                async with self._storing_once(str(digest), domain.name):
                    record = await self._store_verified(repo, str(digest), path, size, domain.name)
                await self.uploads.remove(session.id)
                return record
            # Acknowledge now, encrypt in the background (registry.landing). The same content
            # landing already is no reason to wait (nor to take `_storing_once`, which its
            # landing holds): this one's landing takes turns with it, finds it stored, links it.
            async with self.sweep_lock.writing():
                record = await self._stored_copy(repo, str(digest), domain.name)
                if record is not None:  # stored before: a dedupe hit, linked now
                    await self.index.link_blob(repo, record)
                    DEDUPE_HITS.labels("push").inc()
            if record is None:
                await self.uploads.mark_committed(session, digest, domain.name)
                return self.landings.start(Pending(str(digest), domain.name, size, repo, session.id, path)).record()
            await self.uploads.remove(session.id)
            return record

    async def _stored_copy(self, repo: str, digest: str, domain: str) -> BlobRecord | None:
        """The stored copy of `digest` a commit to `repo` in `domain` can link
        (the caller holds the sweep lock), or None if it must be stored."""
        record = await self.index.blob(digest, domain)
        if record is None and self.policy.auto_layers(repo):
            record = await self._public_global_copy(digest)
        if record is not None and not await self.store.exists(record.content_id):
            record = None  # the index remembers it but the store lost it: store it again
        return record

    async def _store_verified(self, repo: str, digest: str, path: Path, size: int, domain: str) -> BlobRecord:
        """Encrypt and store the verified bytes of `path` as `digest` of `repo`
        (only now: they are verified), or link the copy already stored; the
        caller holds `_storing_once(digest, domain)`."""
        async with self.sweep_lock.writing():
            record = await self._stored_copy(repo, digest, domain)
            if record is None:  # new in this domain
                stored = await content.store_file(self.store, path, size, self.domains.content_key(digest, domain),
                                                  digest)
                record = BlobRecord(digest, size, stored.content_id, domain)
                await self.index.add_blob(repo, record, stored.blocks)
            else:  # already stored in this domain: a dedupe hit
                await self.index.link_blob(repo, record)
                DEDUPE_HITS.labels("push").inc()
        return record

    async def _land(self, pending: Pending) -> None:
        """Store an acknowledged blob (`registry.landing`), then drop its session.
        Bytes that no longer match the digest are given up, never stored."""
        try:
            async with self._storing_once(pending.digest, pending.domain):
                await self._store_verified(pending.repo, pending.digest, pending.path, pending.size,
                                           pending.domain)
        except (IntegrityError, EOFError, FileNotFoundError) as exc:
            # Terminal: the bytes changed, or the session is gone (removed by hand, or
            # landed by another `serve` on this data directory) — retrying cannot help.
            if await self.index.repo_blob(pending.repo, pending.digest) is None:
                logging.getLogger("sealedreg").error(
                    "a blob recorded as acknowledged, %s (pushed to %s), cannot be stored: %s: %s (lost, unless "
                    "a crash came before its 201: then its client pushes it again)",
                    pending.digest, pending.repo, type(exc).__name__, exc)
        await self.uploads.remove(pending.session_id)
        self.on_change(namespace_of(pending.repo))  # a tree may now hold it (`publish = "auto"`)

    async def recover_landings(self) -> int:
        """At start: land every blob acknowledged before a crash or a stop (its
        committed session). Only its size is checked here, so the server
        listens at once; the landing hashes the bytes again as it encrypts
        them. A record that cannot be landed now (its domain's secret is not
        configured, a malformed record) is logged and kept, never deleted.
        Returns how many are landing."""
        log = logging.getLogger("sealedreg")
        started = 0
        for session in await self.uploads.committed():
            try:
                digest, domain = str(Digest.parse(session.committed["digest"])), session.committed["domain"]
                self.domains.get(domain)
                path = self.uploads.data_file(session.id)
                size = session.offset
                if (await to_thread.run_sync(os.stat, path)).st_size < size:
                    raise EOFError(f"its file is shorter than {size} bytes")
            except EOFError as exc:  # damage, or a crash while it was being acknowledged: cannot be stored
                log.error("a blob recorded as acknowledged (session %s, pushed to %s) cannot be stored: %s "
                          "(lost, unless the crash came before its 201: then its client pushes it again)",
                          session.id, session.repo, exc)
                await self.uploads.remove(session.id)
                continue
            except Exception as exc:  # noqa: BLE001 - keep it: a fixed config lands it at the next start
                log.error("an acknowledged blob (session %s, pushed to %s) cannot be stored now, kept for the "
                          "next start: %s: %s", session.id, session.repo, type(exc).__name__, exc)
                continue
            # The same content twice (two repositories) lands once: the other finds it stored and links it.
            self.landings.start(Pending(digest, domain, size, session.repo, session.id, path))
            started += 1
        return started

    async def settle(self, namespace: str | None = None, timeout: float = SETTLE_TIMEOUT,
                     required: bool = True) -> None:
        """Wait until the blobs acknowledged (in `namespace`, or anywhere) when
        this is called are stored — by this process or a `serve` running
        beside it. Past `timeout`: Unavailable if `required`, else go on (GC
        and fsck: a blob not stored yet is neither garbage nor damage)."""
        def waiting(sessions: list[Session]) -> set[str]:
            return {s.id for s in sessions if namespace is None or namespace_of(s.repo) == namespace}

        ids = waiting(await self.uploads.committed()) | self.landings.sessions(namespace)
        deadline = time.monotonic() + timeout
        delay = 0.02
        while ids:
            if time.monotonic() > deadline:
                if not required:
                    return
                raise Unavailable(f"{len(ids)} pushed blobs are still being encrypted; `sealedreg serve` stores "
                                  "them (also when it starts again): try again shortly")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.25)
            # On disk for any process; in memory too for this one, until its landing is done.
            ids &= waiting(await self.uploads.committed()) | self.landings.sessions(namespace)

    @contextlib.asynccontextmanager
    async def _storing_once(self, digest: str, domain: str) -> AsyncIterator[None]:
        """Commits of the same content take turns: when twenty clients push one
        layer at once, the first encrypts and stores it and the others find it
        stored (a dedupe hit) instead of encrypting it nineteen times more."""
        key = (digest, domain)
        lock, users = self._storing.get(key, (asyncio.Lock(), 0))
        self._storing[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._storing[key]
            if users == 1:
                del self._storing[key]
            else:
                self._storing[key] = (lock, users - 1)

    async def _public_global_copy(self, digest: str) -> BlobRecord | None:
        """The global-domain copy of `digest`, if a public repository holds it
        (policy `layers = "auto"`: a private image's public base layers dedupe)."""
        record = await self.index.blob(digest, GLOBAL)
        if record is None:
            return None
        repos = await self.index.repos_with_blob(digest, GLOBAL)
        return record if any(not self.policy.is_private(r) for r in repos) else None

    async def cancel_upload(self, repo: str, session_id: str) -> None:
        await self.uploads.cancel(session_id, repo)

    async def discard_upload(self, session_id: str) -> None:
        """Drop a session only its creator knows of (a failed monolithic upload)."""
        await self.uploads.remove(session_id)

    async def expire_uploads(self) -> int:
        """Remove upload sessions idle for longer than their TTL; how many went."""
        return await self.uploads.expire()

    # -- manifests ----------------------------------------------------------
    async def put_manifest(self, repo: str, reference: str, body: bytes, content_type: str | None,
                           extra_tags: list[str] = ()) -> PutManifestResult:
        self._writable(repo, pushing=True)
        if len(body) > self.max_manifest_size:
            raise TooLarge(f"manifest larger than {self.max_manifest_size} bytes")
        ref = parse_reference(reference)
        tags = [validate_tag(t) for t in extra_tags]
        if isinstance(ref, Digest):
            digest = ref
            if Digest.of(body, ref.algorithm) != ref:
                raise DigestInvalid("manifest does not match the digest in the URL", detail={"digest": str(ref)})
        else:
            digest = Digest.of(body, DEFAULT_ALGORITHM)
            tags.insert(0, ref)
        info = mf.parse_manifest(body, content_type)
        async with self.sweep_lock.writing():
            missing = [d for d in await self.index.missing_blobs(repo, info.blobs)
                       if self.landings.in_repo(repo, d) is None]  # acknowledged counts as present
            missing += await self.index.missing_manifests(repo, info.manifests)
            if missing:
                raise ManifestBlobUnknown(detail={"digests": missing})
            domain = await self.domain_for(repo)
            stored = await content.store_bytes(self.store, body,
                                               self.domains.content_key(str(digest), domain.name))
            located = BlobRecord(str(digest), len(body), stored.content_id, domain.name)
            record = ManifestRecord(repo, str(digest), domain.name, info.media_type, len(body), info.subject,
                                    info.artifact_type, info.annotations)
            await self.index.put_manifest(record, located, stored.blocks, tags, refs=list(info.blobs))
        self.on_change(namespace_of(repo))
        return PutManifestResult(str(digest), tags, info.subject)

    async def resolve(self, repo: str, reference: str) -> str:
        """The digest a tag or digest reference names in `repo`.

        A reference that cannot name anything (a malformed tag or digest) is
        simply unknown on a read, as the conformance suites expect.
        """
        if foreign := self._foreign(repo):
            return await foreign.resolve(repo, reference)
        ref = read_reference(reference)
        if isinstance(ref, Digest):
            return str(ref)
        digest = await self.index.tag(repo, ref)
        if digest is None:
            raise ManifestUnknown(detail={"tag": ref})
        return digest

    async def stat_manifest(self, repo: str, reference: str) -> tuple[ManifestRecord, BlobRecord]:
        if foreign := self._foreign(repo):
            record, body = await foreign.manifest(repo, reference)
            return record, BlobRecord(record.digest, record.size, "", record.domain)
        digest = await self.resolve(repo, reference)
        found = await self.index.manifest(repo, digest)
        if found is None:
            raise ManifestUnknown(detail={"digest": digest})
        return found

    async def get_manifest(self, repo: str, reference: str) -> StoredManifest:
        if foreign := self._foreign(repo):
            return StoredManifest(*await foreign.manifest(repo, reference))
        record, stored = await self.stat_manifest(repo, reference)
        return StoredManifest(record, await self.read_manifest(stored))

    async def read_manifest(self, stored: BlobRecord) -> bytes:
        """A manifest's exact bytes, verified."""
        return await content.read_all(self.store, stored.content_id, self.key_of(stored), stored.digest,
                                      stored.size)

    async def delete_manifest(self, repo: str, reference: str) -> None:
        self._writable(repo)
        ref = parse_reference(reference)
        if isinstance(ref, Digest):
            if not await self.index.delete_manifest(repo, str(ref)):
                raise ManifestUnknown(detail={"digest": str(ref)})
        elif not await self.index.delete_tag(repo, ref):
            raise ManifestUnknown(detail={"tag": ref})
        self.on_change(namespace_of(repo))

    async def describe(self, repo: str, reference: str) -> dict:
        """What `sealedreg inspect` prints: a manifest and where each of its
        blobs (and, for an index, each child manifest) is stored."""
        stored = await self.get_manifest(repo, reference)
        record = stored.record
        _, stored_at = await self.stat_manifest(repo, record.digest)
        info = mf.parse_manifest(stored.body, record.media_type)
        doc = json.loads(stored.body)
        out: dict = {
            "repository": repo,
            "reference": reference,
            "digest": record.digest,
            "mediaType": record.media_type,
            "size": record.size,
            "cid": stored_at.content_id,
            "domain": self.domains.get(record.domain).kind,
        }
        published = await self.tree_state(namespace_of(repo))
        if published is not None and reference == out["reference"]:
            out["tree"] = published
        if info.media_type in (mf.OCI_INDEX, mf.DOCKER_LIST):
            out["manifests"] = [await self.describe(repo, child) for child in info.manifests]
            return out
        roles = {doc["config"]["digest"]: "config"}
        out["blobs"] = []
        for digest in info.blobs:
            blob = await self.index.repo_blob(repo, digest)
            entry = {"role": roles.get(digest, "layer"), "digest": digest}
            if blob is None:
                entry["missing"] = True
            else:
                entry.update(size=blob.size, cid=blob.content_id, domain=self.domains.get(blob.domain).kind)
            out["blobs"].append(entry)
        return out

    # -- the namespace tree -------------------------------------------------
    async def build_tree(self, namespace: str, now: float | None = None, rebuild: bool = False) -> dict:
        """Build the namespace's tree (docs/format.md §6) from the index, store it,
        and return its root CID, sequence number (which rises on every change)
        and expiry. A tree past half its lifetime is re-signed even when
        nothing changed, so what is published never expires; so is one `rebuild`
        asks for (fsck repairing a damaged tree: every block written again)."""
        now = time.time() if now is None else now
        previous = TreeState(*state) if (state := await self.index.namespace_state(namespace)) else None
        refresh = previous is not None and (rebuild or previous.expires is None
                                            or previous.expires - now < self.tree_lifetime / 2)
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while True:
            # A tree holds only stored blobs: let acknowledged ones land first.
            await self.settle(namespace, timeout=max(deadline - time.monotonic(), 0.001))
            async with self.sweep_lock.writing():
                linked: set[tuple[str, str]] = set()
                snap = await snapshot(self.index, self.policy, self.domains, self.read_manifest, namespace, linked)
                if not await self._landing_under(namespace, linked):
                    built = await build_tree(self.store, snap, previous, expires=int(now + self.tree_lifetime),
                                             refresh=refresh)
                    if built.changed:
                        await self.index.set_namespace_state(namespace, built.seq, built.root, built.state,
                                                             built.expires, built.blocks,
                                                             content=tuple(b.cid for b in snap.blobs))
                    return built.summary()
            if time.monotonic() > deadline:
                raise Unavailable(f"{namespace}: pushed blobs are still being encrypted; try again shortly")

    async def _landing_under(self, namespace: str, linked: set[tuple[str, str]]) -> bool:
        """Whether a manifest of the snapshot (whose blobs are `linked`) references
        a blob acknowledged but not stored when the snapshot was read: it is still
        landing (its session is committed) or landed since (the index has it now).
        A reference neither way is a link deleted under its manifest, as ever."""
        unlinked = await self.index.namespace_refs(namespace) - linked
        if not unlinked:
            return False
        committed = {(s.repo, s.committed.get("digest")) for s in await self.uploads.committed()
                     if isinstance(s.committed, dict)}
        for repo, digest in unlinked:
            if (repo, digest) in committed or await self.index.repo_blob(repo, digest) is not None:
                return True
        return False

    async def publish(self, namespace: str, target: PublishTarget, announce: Announce = Announce(),
                      progress: Callable[[int], None] | None = None) -> dict:
        """Build the tree and point DNSLink (and, with `target.ipns`, IPNS) at it
        (`registry.publishing`). Returns the tree summary plus `dnslink`,
        `records` (name → TXT values), `dns` (updated/unchanged/printed/not
        updated) and `ipns` (the name) when used. `progress(1)` is called after
        each step done: the tree built, the IPNS record put, DNS updated."""
        step = progress if progress is not None else (lambda n: None)
        tree = await self.build_tree(namespace)
        step(1)
        if not (target.ipns or target.print_only or target.dns_server):
            return tree
        keys = require_keys(namespace, self.policy.namespace(namespace).keys)
        hints = await hints_of(announce, self.kubo)
        out: dict = dict(tree)
        if target.ipns:
            name, record = ipns_record(keys, tree["root"], tree["seq"], tree["expires"], target.ttl)
            await self.index.set_ipns_record(namespace, name, record)
            if self.kubo is not None:
                await self.kubo.routing_put(f"/ipns/{name}", record)
            link = DnsLink("ipns", name)
            out["ipns"] = name
            step(1)
        else:
            link = DnsLink("ipfs", tree["root"])
        records = records_for(namespace, keys, link, hints)
        out.update(dnslink=str(link), records=records)
        if target.print_only:
            out["dns"] = "printed"
        elif target.dns_server and target.tsig_key:
            ours = {f"/ipfs/{root}" for root in await self.index.published_roots(namespace)}
            ours.add(f"/ipns/{ipns_name(keys.sig.verify_key)}")
            if keys.previous is not None:  # rotated: the old key's IPNS name was ours too
                ours.add(f"/ipns/{ipns_name(keys.previous.sig.verify_key)}")
            out["dns"] = await update_dns(target, namespace, records, ours)
            step(1)
        else:
            out["dns"] = "not updated"
        return out

    async def ipns_record(self, name: str) -> bytes | None:
        """The latest IPNS record this registry signed for `name`, to serve over HTTP."""
        return await self.index.ipns_record(name)

    async def grant(self, repo: str, recipient: PublicKey) -> dict:
        """Add a recipient to a private repository and re-seal its envelope."""
        self._require_private(repo)
        if not await self.index.repo_exists(repo):
            raise NameUnknown(f"{repo} holds nothing yet: push to it first, then grant")
        await self.settle(namespace_of(repo))  # before recording it: the re-seal must not fail half-way
        await self.index.grant(repo, kid(bytes(recipient)), "x25519:" + b64(bytes(recipient)))
        return await self.build_tree(namespace_of(repo))

    async def revoke(self, repo: str, recipient_kid: str, rotate: bool = False) -> dict:
        """Remove a recipient and re-seal: what it already fetched it keeps, but it
        cannot open anything sealed from now on (docs/format.md §8). With
        `rotate`, the repository's future layers go to a fresh org domain, so
        even a layer the revoked party has seen elsewhere gets new ciphertext."""
        self._require_private(repo)
        await self.settle(namespace_of(repo))  # before recording it: the re-seal must not fail half-way
        if not await self.index.revoke(repo, recipient_kid):
            raise NameUnknown(f"{recipient_kid} is not a recipient of {repo}")
        if rotate:
            await self.index.set_repo_domain(repo, self.domains.rotate(namespace_of(repo)).name)
        return await self.build_tree(namespace_of(repo))

    async def recipients(self, repo: str) -> list[str]:
        """Key ids an envelope of `repo` is sealed to: the organisation's first."""
        self._require_private(repo)
        keys = self.policy.namespace(namespace_of(repo)).keys
        return [keys.public.kid] + sorted(await self.index.grants(repo))

    def _require_private(self, repo: str) -> None:
        validate_name(repo)
        if not self.policy.is_private(repo):
            raise NameInvalid(f"{repo} is not a private repository (see [namespaces] private in the config)")

    async def tree_state(self, namespace: str) -> dict | None:
        state = await self.index.namespace_state(namespace)
        if state is None:
            return None
        return {"namespace": namespace, "root": state[1], "seq": state[0], "expires": state[3]}

    # -- listings -----------------------------------------------------------
    async def list_tags(self, repo: str, last: str | None, limit: int | None) -> list[str]:
        if foreign := self._foreign(repo):
            return await foreign.list_tags(repo, last, limit)
        if not await self.index.repo_exists(repo):
            raise NameUnknown(detail={"name": repo})
        return await self.index.tags(repo, last, limit)

    async def referrers(self, repo: str, subject: Digest, artifact_type: str | None) -> bytes:
        """The referrers of `subject` as an OCI image index (never an error for no referrers)."""
        if foreign := self._foreign(repo):
            records = await foreign.referrers(repo, str(subject), artifact_type)
        else:
            records = await self.index.referrers(repo, str(subject), artifact_type)
        manifests = []
        for r in records:
            desc: dict = {"mediaType": r.media_type, "digest": r.digest, "size": r.size}
            if r.artifact_type:
                desc["artifactType"] = r.artifact_type
            if r.annotations:
                desc["annotations"] = r.annotations
            manifests.append(desc)
        index = {"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": manifests}
        return json.dumps(index, separators=(",", ":")).encode()

    async def catalog(self, last: str | None, limit: int | None) -> list[str]:
        return await self.index.repositories(last, limit)

    # -- blocks, for the trustless gateway ----------------------------------
    async def live_block(self, cid: str) -> str | None:
        """`cid` as CIDv1 text if it is a block of content some repository still
        holds (the only blocks the gateway serves), else None."""
        try:
            parsed = CID.parse(cid)
        except CIDError:
            return None
        text = str(parsed if parsed.version == 1 else CID(1, parsed.codec, parsed.digest))
        return text if await self.index.block_is_live(text) else None

    async def block(self, cid: ContentId) -> bytes | None:
        """One stored block, verified; None if the store does not have it."""
        try:
            return await self.store.get_block(cid)
        except ContentMissing:
            return None

    def dag(self, cid: ContentId) -> AsyncIterator[tuple[ContentId, bytes]]:
        """Every block of the DAG under `cid`, root first, each once."""
        return self.store.dag(cid)

