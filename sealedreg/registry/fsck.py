"""`sealedreg fsck`: is everything the index names really there, and right?

Every stored blob and manifest is proved the way a CAR import proves
foreign content (`content.prove`): every block against its CID, the DAG
against the one a push would have built, the decrypted bytes against the
digest. Every tree that is current or not yet expired has each of its own
blocks checked. Damage is reported per repository.

`--repair` takes damaged content out of use and never touches what
verifies: the blob's index rows are forgotten (kept in `quarantine`), its
bad blocks moved aside (embedded) or removed (Kubo), so reads answer
unknown rather than fail mid-stream, and the next push of the same bytes
stores them afresh (clients re-push what a registry says it lacks). A
damaged current tree is rebuilt and re-signed under a new seq; a damaged
tree is no longer served (it counts as expired).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from sealedreg.registry.errors import IntegrityError, Unavailable
from sealedreg.registry.index import BlobRecord
from sealedreg.registry import content
from sealedreg.registry.service import Registry
from sealedreg.storage.base import ContentCorrupt, ContentMissing, StorageUnavailable


@dataclass
class Damage:
    kind: str  # "blob" (a blob or a manifest's bytes) or "tree"
    name: str  # the digest, or the tree's root CID
    reason: str
    repositories: list[str] = field(default_factory=list)  # who holds it (blobs), or [namespace] (trees)
    blocks: list[str] = field(default_factory=list)  # blocks missing or failing their CID
    repaired: str = ""  # what --repair did


@dataclass
class FsckReport:
    blobs: int = 0  # stored blobs and manifests checked
    trees: int = 0
    bytes: int = 0  # plaintext bytes proved
    damage: list[Damage] = field(default_factory=list)
    repaired: bool = False
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        """Nothing damaged is left in use."""
        return all(d.repaired for d in self.damage)

    def by_repository(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for d in self.damage:
            for repo in d.repositories:
                out.setdefault(repo, []).append(d.name)
        return out

    def to_json(self) -> dict:
        return {**asdict(self), "clean": self.clean, "repositories": self.by_repository()}


async def fsck(registry: Registry, repair: bool = False, now: float | None = None,
               progress: Callable[[int], None] | None = None) -> FsckReport:
    """Check everything; with `repair`, take what is damaged out of use."""
    started = time.monotonic()
    now = time.time() if now is None else now
    report = FsckReport(repaired=repair)
    await registry.settle(timeout=30, required=False)  # check what a push just stored, too
    for listed in await registry.index.all_content():
        async with registry.sweep_lock.writing():  # a collection running beside us cannot take it mid-proof
            record = await registry.index.blob(listed.digest, listed.domain)
            problem = await _prove(registry, record) if record is not None else None
        if record is None:
            continue  # collected since it was listed
        report.blobs += 1
        report.bytes += record.size
        if progress is not None:
            progress(1)
        if problem is None:
            continue
        damage = Damage("blob", record.digest, problem, await registry.index.holders(record),
                        await _bad_blocks(registry, await registry.index.dag_of(record.content_id)
                                          or [record.content_id]))
        if repair:
            async with registry.sweep_lock.sweeping():  # no push of these bytes is half-way through
                moved = await registry.store.quarantine(record.content_id, damage.blocks)
                await registry.index.quarantine(record, problem)
            damage.repaired = f"forgotten; {moved} block(s) taken out; a push of the same bytes stores it again"
        report.damage.append(damage)
    for namespace, root, current, blocks in await registry.index.live_trees(now):
        report.trees += 1
        async with registry.sweep_lock.writing():
            bad = await _bad_blocks(registry, blocks or [root])
        if not bad:
            continue
        damage = Damage("tree", root, f"{len(bad)} of its blocks are missing or damaged", [namespace], bad)
        if repair:
            async with registry.sweep_lock.sweeping():
                await registry.store.quarantine(root, bad)
            if current:
                try:
                    rebuilt = await registry.build_tree(namespace, rebuild=True)
                    damage.repaired = f"rebuilt as {rebuilt['root']} (seq {rebuilt['seq']}): publish it; "
                except Unavailable as exc:  # pushed blobs still landing: the next publish rebuilds it
                    damage.repaired = f"not rebuilt ({exc}): publish it again; "
            await registry.index.expire_tree(root, now)
            damage.repaired += "no longer served"
        report.damage.append(damage)
    report.seconds = round(time.monotonic() - started, 3)
    return report


async def _prove(registry: Registry, record: BlobRecord) -> str | None:
    """Why `record` does not verify, or None when it does."""
    try:
        await content.prove(registry.store, record.content_id, registry.key_of(record), record.digest, record.size)
    except StorageUnavailable:
        raise
    except IntegrityError as exc:
        return str(exc)
    return None


async def _bad_blocks(registry: Registry, cids: list[str]) -> list[str]:
    bad = []
    for cid in cids:
        try:
            await registry.store.get_block(cid)
        except (ContentCorrupt, ContentMissing):
            bad.append(cid)
    return bad
