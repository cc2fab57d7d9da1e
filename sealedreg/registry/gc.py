"""Garbage collection: give back the storage of what nothing keeps any more
(docs/operations.md "Garbage collection").

Mark, from the index alone: every manifest of every repository keeps its own
bytes and the blobs it references in that repository; every published tree
that is current or not yet expired keeps its blocks and the blobs it links,
so a federated puller mid-resolution still finds them; anything pushed or
linked within the grace period is kept, so a push whose manifest has not
arrived yet loses nothing. Sweep: forget the rest in one index transaction,
queue its blocks and roots, release them from the store (delete on the
embedded store, unpin on Kubo), then empty the queue — a crash in between
leaves the queue for the next run, which releases only what is still
unreferenced. Writers and the sweep exclude each other through the sweep
lock, so a blob deduplicated by a push during the sweep is either seen as
live or stored afresh, never lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from sealedreg import metrics
from sealedreg.registry import manifests as mf
from sealedreg.registry.errors import IntegrityError, RegistryError
from sealedreg.registry.service import Registry
from sealedreg.storage.base import StorageError
from sealedreg.storage.cid import DAG_PB
from sealedreg.storage.unixfs import DagError, decode_directory

log = logging.getLogger("sealedreg.gc")

Step = Callable[[str], None]
"""Told the name of each phase as it starts (the CLI's progress display)."""


@dataclass
class GcReport:
    dry_run: bool
    grace: float
    links: int = 0  # repository → blob links dropped: no manifest there references them
    blobs: int = 0  # blobs and manifest contents forgotten
    blob_bytes: int = 0  # their plaintext bytes
    trees: int = 0  # expired published trees forgotten
    blocks: int = 0  # blocks deleted (embedded) or DAG roots unpinned (Kubo)
    bytes: int = 0  # bytes freed (embedded) or released to the node's own GC (Kubo)
    store: str = ""
    recovered: int = 0  # blocks and roots a previous, interrupted run had queued
    unreadable: list[str] = field(default_factory=list)  # manifests whose references could not be read
    seconds: float = 0.0

    def to_json(self) -> dict:
        return asdict(self)


async def collect_garbage(registry: Registry, grace: float, dry_run: bool = False, now: float | None = None,
                          step: Step | None = None) -> GcReport:
    """One collection. Only the sweep holds the lock; reading manifests and
    trees to fill in references the index lacks happens before it."""
    started = time.monotonic()
    step = step or (lambda name: None)
    report = GcReport(dry_run=dry_run, grace=grace, store=registry.store.name)
    # Not needed for safety (a blob not stored yet is in no table to sweep), but a
    # collection right after a push then sees what the push stored. Bounded: a
    # blob that cannot be stored now (no `serve` running) holds nothing up for long.
    await registry.settle(timeout=30, required=False)
    step("reading references")
    report.unreadable = await _record_manifest_refs(registry)
    now = time.time() if now is None else now
    await _record_tree_content(registry, now)
    try:
        # A dry run frees nothing, so it does not stop pushes: its figures are an estimate.
        async with registry.sweep_lock.writing() if dry_run else registry.sweep_lock.sweeping():
            step("marking")
            if not dry_run:  # finish what an interrupted run forgot but did not release
                blocks, roots = await registry.index.pending_sweep()
                if blocks or roots:
                    done = await registry.store.release(blocks, roots)
                    report.recovered = done.count
                    await registry.index.swept()
            try:
                garbage = await registry.index.collect(now, grace, dry_run)
            except ValueError as exc:
                raise GcError(str(exc)) from None
            report.links, report.blobs, report.blob_bytes, report.trees = (
                garbage.links, garbage.blobs, garbage.blob_bytes, garbage.trees)
            step("sweeping")
            released = await registry.store.release(garbage.blocks, garbage.roots, dry_run)
            if not dry_run:
                await registry.index.swept()
            report.blocks, report.bytes = released.count, released.bytes
    except BaseException:
        metrics.GC_RUNS.labels(result="error").inc()
        raise
    metrics.GC_RUNS.labels(result="ok").inc()
    if not dry_run:
        metrics.GC_FREED_BLOCKS.inc(report.blocks)
        metrics.GC_FREED_BYTES.inc(report.bytes)
    report.seconds = round(time.monotonic() - started, 3)
    return report


class GcError(RuntimeError):
    """The collection cannot go ahead safely (nothing was changed)."""


async def _record_manifest_refs(registry: Registry) -> list[str]:
    """Record the blob references of manifests stored before references were
    recorded (or imported from a CAR) by reading them. One that cannot be
    read keeps every link of its repository (the mark is conservative)."""
    unreadable = []
    for repo, digest, media_type, stored in await registry.index.manifests_without_refs():
        try:
            body = await registry.read_manifest(stored)
            refs = mf.parse_manifest(body, media_type).blobs
        except (RegistryError, IntegrityError, StorageError, ValueError) as exc:
            log.warning("manifest %s@%s cannot be read (%s): its repository keeps all its blobs",
                        repo, digest, exc)
            unreadable.append(f"{repo}@{digest}")
            continue
        await registry.index.set_manifest_refs(repo, digest, list(refs))
    return unreadable


async def _record_tree_content(registry: Registry, now: float) -> None:
    """Record what each live tree published before this was recorded links and
    holds, by walking it from its root: its directories, and every file below
    them — a stored blob's root (content), or one of the tree's own files
    (manifests, tags, envelopes: every block of it is the tree's own)."""
    for root in await registry.index.trees_without_content(now):
        own: set[str] = set()
        files: set[str] = set()
        try:
            directories = [(root, await registry.store.get_block(root))]
            while directories:
                cid, block = directories.pop()
                own.add(cid)
                for link in decode_directory(block):
                    target = str(link.cid)
                    if target in own:
                        continue
                    child = await registry.store.get_block(target) if link.cid.codec == DAG_PB else None
                    if child is not None and _is_directory(child):
                        directories.append((target, child))
                    else:
                        files.add(target)
            content = await registry.index.stored_content(sorted(files))
            for cid in files - content:
                own.update([block_cid async for block_cid, _ in registry.store.dag(cid)])
        except (StorageError, DagError) as exc:
            raise GcError(f"tree {root} cannot be read ({exc}); not collecting") from None
        await registry.index.set_tree_content(root, sorted(content), sorted(own))


def _is_directory(block: bytes) -> bool:
    try:
        decode_directory(block)
    except DagError:
        return False
    return True
