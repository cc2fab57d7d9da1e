"""Garbage collection in process on the embedded store: what is kept, what
goes, the grace period, published trees in their validity window, pushes
racing the sweep, an interrupted sweep, and indexes written before
references were recorded. (Kubo and the CLI: tests/integration/test_gc.py.)"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from sealedreg.datadir import DataDir
from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import BlobUnknown, ManifestBlobUnknown
from sealedreg.registry.gc import GcError, collect_garbage
from sealedreg.registry.index import Index
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.registry.service import Registry
from sealedreg.registry.sweeplock import SweepLock
from sealedreg.registry.uploads import Uploads
from sealedreg.crypto.keys import OrgKeys
from sealedreg.storage.base import Released
from sealedreg.storage.cid import CID
from sealedreg.storage.embedded import EmbeddedStore

KEYS = OrgKeys.generate("example.com")
MIB = 1024 * 1024


def run(coro):
    return asyncio.run(coro)


class PausingStore(EmbeddedStore):
    """Holds a sweep inside `release` until told to go on."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.in_sweep: asyncio.Event | None = None
        self.go_on: asyncio.Event | None = None

    async def release(self, blocks, roots, dry_run=False) -> Released:
        if self.in_sweep is not None and blocks:
            self.in_sweep.set()
            await self.go_on.wait()
        return await super().release(blocks, roots, dry_run)


@pytest.fixture
def reg(datadir):
    policy = Policy({"example.com": NamespacePolicy("example.com", (), keys=KEYS)})
    registry = Registry(Index(datadir.index), Uploads(datadir), PausingStore(datadir.blocks, datadir.tmp, durable=False),
                        policy=policy, sweep_lock=SweepLock(datadir.gc_lock, datadir.gc_gate))
    yield registry
    run(registry.close())


async def push(reg: Registry, repo: str, data: bytes):
    session = await reg.start_upload(repo)

    async def body():
        yield data

    return await reg.commit_upload(repo, session.id, Digest.of(data), body())


async def push_image(reg: Registry, repo: str, layers: list[bytes], tag: str = "1") -> str:
    cfg = await push(reg, repo, b'{"config": "' + repo.encode() + b'"}')
    descs = []
    for data in layers:
        blob = await push(reg, repo, data)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": blob.digest,
                      "size": len(data)})
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.digest,
                                  "size": cfg.size},
                       "layers": descs}).encode()
    result = await reg.put_manifest(repo, tag, body, "application/vnd.oci.image.manifest.v1+json")
    return result.digest


def block_files(d: DataDir) -> set[str]:
    return {p.name for p in d.blocks.rglob("*") if p.is_file()}


async def readable(reg: Registry, repo: str, data: bytes) -> bool:
    record = await reg.stat_blob(repo, Digest.of(data))
    return b"".join([piece async for piece in reg.read_blob(record)]) == data


def layer(n: int, size: int = 3 * MIB) -> bytes:
    return bytes([n]) * size


def test_deleting_a_manifest_frees_its_unshared_layers_and_nothing_else(reg, datadir):
    shared, only_a, only_b = layer(1), layer(2), layer(3)

    async def go():
        digest_a = await push_image(reg, "x.org/a", [shared, only_a])
        await push_image(reg, "x.org/b", [shared, only_b])
        before = block_files(datadir)
        record_a = await reg.stat_blob("x.org/a", Digest.of(only_a))
        manifest_a = (await reg.stat_manifest("x.org/a", digest_a))[1]
        expected = {cid async for cid, _ in reg.dag(record_a.content_id)}
        expected |= {cid async for cid, _ in reg.dag(manifest_a.content_id)}
        config_a = await reg.stat_blob("x.org/a", Digest.of(b'{"config": "x.org/a"}'))
        expected |= {cid async for cid, _ in reg.dag(config_a.content_id)}
        await reg.delete_manifest("x.org/a", digest_a)
        report = await collect_garbage(reg, grace=0)
        after = block_files(datadir)
        assert before - after == expected
        assert report.blocks == len(expected) and report.bytes > 3 * MIB
        assert report.blobs == 3 and report.links == 3  # config, layer, manifest; a's three links
        assert await readable(reg, "x.org/b", shared) and await readable(reg, "x.org/b", only_b)
        with pytest.raises(BlobUnknown):
            await reg.stat_blob("x.org/a", Digest.of(only_a))
        again = await collect_garbage(reg, grace=0)
        assert again.blocks == 0 and block_files(datadir) == after

    run(go())


def test_nothing_referenced_is_collected(reg, datadir):
    async def go():
        await push_image(reg, "x.org/a", [layer(1)])
        digest = await push_image(reg, "x.org/a", [layer(2)], tag="2")
        await reg.delete_manifest("x.org/a", "2")  # a tag: the manifest stays, untagged
        before = block_files(datadir)
        report = await collect_garbage(reg, grace=0)
        assert report.blocks == 0 and block_files(datadir) == before
        assert (await reg.stat_manifest("x.org/a", digest))[0].digest == digest

    run(go())


def test_the_grace_period_keeps_fresh_pushes_and_dry_run_changes_nothing(reg, datadir):
    async def go():
        await push(reg, "x.org/a", layer(5))  # a blob whose manifest has not come yet
        before = block_files(datadir)
        kept = await collect_garbage(reg, grace=3600)
        assert kept.blocks == 0 and block_files(datadir) == before
        dry = await collect_garbage(reg, grace=0, dry_run=True)
        assert dry.dry_run and dry.blocks == len(before) and dry.bytes >= 3 * MIB
        assert block_files(datadir) == before and await readable(reg, "x.org/a", layer(5))
        real = await collect_garbage(reg, grace=0)
        assert (real.blocks, real.bytes) == (dry.blocks, dry.bytes) and block_files(datadir) == set()

    run(go())


def test_a_relinked_blob_starts_its_grace_period_over(reg, datadir):
    async def go():
        blob = await push(reg, "x.org/a", layer(6))
        await reg.index._run(lambda db: db.execute("UPDATE repo_blobs SET linked = 0"))
        await reg.index._run(lambda db: db.execute("UPDATE blobs SET created = 0"))
        await reg.mount_blob("x.org/b", Digest.parse(blob.digest), "x.org/a")  # a mount: now
        report = await collect_garbage(reg, grace=600)
        assert report.links == 1 and report.blobs == 0  # a's stale link went; b's fresh one keeps the blob
        assert await readable(reg, "x.org/b", layer(6))

    run(go())


def test_published_trees_keep_their_blobs_until_they_expire(reg, datadir):
    async def go():
        digest = await push_image(reg, "example.com/app", [layer(7)])
        old = await reg.build_tree("example.com")
        await reg.delete_manifest("example.com/app", digest)
        record = await reg.index.blob(str(Digest.of(layer(7))), "global")
        leaf = [cid async for cid, _ in reg.dag(record.content_id)][-1]
        kept = await collect_garbage(reg, grace=0, now=old["expires"] - 1)
        assert kept.trees == 0 and kept.links == 2  # config and layer leave the repository...
        assert kept.blobs == 1  # ...but stay stored; the manifest's sealed copy goes (the tree has its own)
        await reg.build_tree("example.com", now=time.time() + 60)  # current, without the image
        assert leaf in block_files(datadir) and await reg.live_block(leaf)  # the gateway still serves it
        gone = await collect_garbage(reg, grace=0, now=old["expires"] + 1)
        assert gone.trees == 1 and gone.blobs == 2 and leaf not in block_files(datadir)
        assert not await reg.live_block(leaf)
        current = await reg.tree_state("example.com")
        assert current["root"] in {p.name for p in datadir.blocks.rglob("*")}  # the current tree stays

    run(go())


def test_a_push_racing_the_sweep_is_never_lost(reg, datadir):
    """The sweep has forgotten a garbage blob and is deleting its blocks when a
    push of the same bytes arrives: the push waits for the sweep, then stores
    the blob afresh (without the lock it would link blocks being deleted)."""
    data = layer(8)

    async def go():
        digest = await push_image(reg, "x.org/a", [data])
        await reg.delete_manifest("x.org/a", digest)
        reg.store.in_sweep, reg.store.go_on = asyncio.Event(), asyncio.Event()
        sweep = asyncio.create_task(collect_garbage(reg, grace=0))
        await reg.store.in_sweep.wait()
        pusher = asyncio.create_task(push_image(reg, "x.org/b", [data]))
        done, _ = await asyncio.wait([pusher], timeout=0.5)  # give the push every chance to overtake
        assert not done, "a push finished while the sweep held the lock"
        reg.store.go_on.set()
        await sweep
        await pusher
        assert await readable(reg, "x.org/b", data)
        assert (await collect_garbage(reg, grace=0)).blocks == 0

    run(go())


def test_concurrent_pushes_of_garbage_content_during_many_collections(reg, datadir):
    """Pushes that dedupe against content each collection is about to free,
    interleaved with collections: every pushed image stays whole."""
    datas = [layer(20 + i, size=MIB + i) for i in range(6)]

    async def go():
        for i, data in enumerate(datas):
            await reg.delete_manifest("x.org/old", await push_image(reg, "x.org/old", [data], tag=f"t{i}"))

        async def collector():
            for _ in range(8):
                await collect_garbage(reg, grace=0)

        async def pusher(i):
            for attempt in range(3):
                try:
                    return await push_image(reg, f"x.org/new{i}", [datas[i]])
                except ManifestBlobUnknown:
                    continue  # grace 0: a sweep between the blob and its manifest; a client retries
            raise AssertionError("never pushed")

        await asyncio.gather(collector(), *(pusher(i) for i in range(len(datas))))
        await collect_garbage(reg, grace=0)
        for i, data in enumerate(datas):
            assert await readable(reg, f"x.org/new{i}", data)

    run(go())


def test_an_interrupted_sweep_is_finished_by_the_next_run(reg, datadir):
    async def go():
        digest = await push_image(reg, "x.org/a", [layer(9)])
        await reg.delete_manifest("x.org/a", digest)
        garbage = await reg.index.collect(now=10**10, grace=0)  # forgotten, then "crashed" before releasing
        assert garbage.blocks and set(garbage.blocks) <= block_files(datadir)
        report = await collect_garbage(reg, grace=0)
        assert report.recovered == len(garbage.blocks) and report.blocks == 0
        assert not set(garbage.blocks) & block_files(datadir)

    run(go())


def test_a_queued_block_pushed_again_is_not_released(reg, datadir):
    async def go():
        digest = await push_image(reg, "x.org/a", [layer(10)])
        await reg.delete_manifest("x.org/a", digest)
        await reg.index.collect(now=10**10, grace=0)  # queued, then the same bytes are pushed again
        await push_image(reg, "x.org/b", [layer(10)])
        report = await collect_garbage(reg, grace=0)
        assert report.recovered == 2  # the old config and manifest; not the layer pushed again
        assert await readable(reg, "x.org/b", layer(10))

    run(go())


def test_manifests_stored_before_references_were_recorded_are_read(reg, datadir):
    shared, only_a = layer(11), layer(12)

    async def go():
        digest = await push_image(reg, "x.org/a", [shared, only_a])
        await push_image(reg, "x.org/a", [shared], tag="2")
        await reg.index._run(lambda db: db.execute("DELETE FROM manifest_refs"))
        await reg.index._run(lambda db: db.execute("UPDATE manifests SET refs = NULL"))
        await reg.index._run(lambda db: db.execute("UPDATE repo_blobs SET linked = NULL"))
        await reg.delete_manifest("x.org/a", digest)
        report = await collect_garbage(reg, grace=0)
        assert report.unreadable == [] and report.links == 1  # only_a: read from tag 2's manifest
        assert await readable(reg, "x.org/a", shared)
        with pytest.raises(BlobUnknown):
            await reg.stat_blob("x.org/a", Digest.of(only_a))

    run(go())


def test_an_unreadable_manifest_keeps_its_repository_whole(reg, datadir):
    async def go():
        digest = await push_image(reg, "x.org/a", [layer(13)], tag="1")
        await push(reg, "x.org/a", layer(14))  # an orphan blob
        await reg.index._run(lambda db: db.execute("UPDATE manifests SET refs = NULL"))
        await reg.index._run(lambda db: db.execute("UPDATE repo_blobs SET linked = NULL"))
        await reg.index._run(lambda db: db.execute("UPDATE blobs SET created = 0"))
        stored = (await reg.stat_manifest("x.org/a", digest))[1]
        for cid, _ in [item async for item in reg.dag(stored.content_id)]:
            reg.store.blocks.remove(CID.parse(cid))
        report = await collect_garbage(reg, grace=0)
        assert report.unreadable == [f"x.org/a@{digest}"] and report.links == 0
        assert await readable(reg, "x.org/a", layer(14))

    run(go())


def test_trees_published_before_their_content_was_recorded_are_read(reg, datadir):
    async def go():
        digest = await push_image(reg, "example.com/app", [layer(15)])
        tree = await reg.build_tree("example.com")
        await reg.index._run(lambda db: db.execute("DELETE FROM tree_content"))
        await reg.index._run(lambda db: db.execute("UPDATE trees SET content_known = NULL"))
        await reg.delete_manifest("example.com/app", digest)
        report = await collect_garbage(reg, grace=0, now=tree["expires"] - 1)
        assert report.blobs == 1  # only the manifest's own bytes: the tree links config and layer
        assert await reg.index.blob(str(Digest.of(layer(15))), "global") is not None

    run(go())


def test_a_tree_that_cannot_be_read_stops_the_collection_before_anything_changes(reg, datadir):
    async def go():
        digest = await push_image(reg, "example.com/app", [layer(16)])
        tree = await reg.build_tree("example.com")
        await reg.index._run(lambda db: db.execute("UPDATE trees SET content_known = NULL"))
        reg.store.blocks.remove(CID.parse(tree["root"]))
        await reg.delete_manifest("example.com/app", digest)
        before = block_files(datadir)
        with pytest.raises(GcError, match="cannot be read"):
            await collect_garbage(reg, grace=0, now=tree["expires"] - 1)
        assert block_files(datadir) == before

    run(go())


def test_many_writers_waiting_on_a_sweep_hold_no_threads(reg, datadir):
    """More waiting writers than the worker pool has threads: the sweep still
    finishes (it needs threads itself) and every writer gets through."""
    async def go():
        await push_image(reg, "x.org/src", [layer(30, size=1000)])
        blob = await reg.stat_blob("x.org/src", Digest.of(layer(30, size=1000)))
        digest = await push_image(reg, "x.org/a", [layer(31)])
        await reg.delete_manifest("x.org/a", digest)
        reg.store.in_sweep, reg.store.go_on = asyncio.Event(), asyncio.Event()
        sweep = asyncio.create_task(collect_garbage(reg, grace=0))
        await reg.store.in_sweep.wait()
        mounts = [asyncio.create_task(reg.mount_blob(f"x.org/m{i}", Digest.parse(blob.digest), "x.org/src"))
                  for i in range(100)]
        await asyncio.sleep(0.05)  # let every mount reach the lock
        reg.store.go_on.set()
        await asyncio.wait_for(sweep, timeout=120)  # a hang detector, not a speed limit
        results = await asyncio.wait_for(asyncio.gather(*mounts), timeout=120)
        assert all(r is not None for r in results)

    run(go())


def test_an_index_from_before_published_trees_were_recorded_keeps_the_current_trees_content(reg, datadir):
    """The current tree named only in `namespaces` (no `trees` row, no blocks
    recorded): reopening the index gives it a row, and gc walks it first."""
    async def go():
        digest = await push_image(reg, "example.com/app", [layer(32)])
        await reg.build_tree("example.com")
        for statement in ("DELETE FROM trees", "DELETE FROM tree_blocks", "DELETE FROM tree_content"):
            await reg.index._run(lambda db, s=statement: db.execute(s))
        reg.index.close()
        reg.index = Index(datadir.index)
        await reg.delete_manifest("example.com/app", digest)
        before = block_files(datadir)
        report = await collect_garbage(reg, grace=0)
        assert report.blobs == 1  # the manifest's own copy; the tree still links config and layer
        assert await reg.index.blob(str(Digest.of(layer(32))), "global") is not None
        state = await reg.tree_state("example.com")
        tree_blocks = {cid async for cid, _ in reg.dag(state["root"])}
        assert tree_blocks <= block_files(datadir) and len(before - block_files(datadir)) == report.blocks

    run(go())


def test_a_blob_whose_link_was_deleted_stays_while_a_manifest_references_it(reg, datadir):
    data = layer(33)

    async def go():
        await push_image(reg, "x.org/a", [data])
        await reg.delete_blob("x.org/a", Digest.of(data))
        report = await collect_garbage(reg, grace=0)
        assert report.blobs == 0
        assert await reg.index.blob(str(Digest.of(data)), "global") is not None

    run(go())


def test_refs_read_for_a_manifest_deleted_meanwhile_are_not_recorded(reg, datadir):
    async def go():
        digest = await push_image(reg, "x.org/a", [layer(34)])
        await reg.index._run(lambda db: db.execute("DELETE FROM manifest_refs"))
        await reg.index._run(lambda db: db.execute("UPDATE manifests SET refs = NULL"))
        await reg.delete_manifest("x.org/a", digest)
        await reg.index.set_manifest_refs("x.org/a", digest, ["sha256:" + "0" * 64])
        rows = await reg.index._run(lambda db: db.execute("SELECT count(*) FROM manifest_refs").fetchone())
        assert rows[0] == 0

    run(go())


def test_a_dry_run_does_not_stop_pushes(reg, datadir):
    async def go():
        digest = await push_image(reg, "x.org/a", [layer(35)])
        await reg.delete_manifest("x.org/a", digest)
        reg.store.in_sweep, reg.store.go_on = asyncio.Event(), asyncio.Event()
        dry = asyncio.create_task(collect_garbage(reg, grace=0, dry_run=True))
        await reg.store.in_sweep.wait()
        await asyncio.wait_for(push_image(reg, "x.org/b", [layer(36)]), timeout=120)  # not held up
        reg.store.go_on.set()
        assert (await dry).blocks > 0

    run(go())


def test_a_sweep_is_not_starved_by_a_stream_of_writers(reg, datadir):
    """Writers whose shared holds always overlap: without the gate a new shared
    lock is granted forever and the sweep never gets its exclusive one."""
    async def go():
        stop = asyncio.Event()

        async def writer():
            while not stop.is_set():
                async with reg.sweep_lock.writing():
                    await asyncio.sleep(0.002)

        writers = [asyncio.create_task(writer()) for _ in range(20)]
        try:
            await asyncio.sleep(0.05)  # the stream is flowing
            await asyncio.wait_for(collect_garbage(reg, grace=0), timeout=60)  # a hang detector
        finally:
            stop.set()
            await asyncio.gather(*writers)

    run(go())
