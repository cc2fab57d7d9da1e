"""`fsck` in process on the embedded store: a clean registry, a rotten and a
missing block, damaged manifest bytes, a damaged tree; `--repair` takes
damage out of use, never touches what verifies, and a push heals it."""

from __future__ import annotations

import asyncio

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import BlobUnknown, ManifestUnknown
from sealedreg.registry.fsck import fsck
from sealedreg.registry.index import Index
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.registry.service import Registry
from sealedreg.registry.sweeplock import SweepLock
from sealedreg.registry.uploads import Uploads
from sealedreg.storage.cid import CID
from sealedreg.storage.embedded import EmbeddedStore
from tests.unit.registry.test_gc import block_files, layer, push, push_image, readable

KEYS = OrgKeys.generate("example.com")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def reg(datadir):
    registry = Registry(Index(datadir.index), Uploads(datadir),
                        EmbeddedStore(datadir.blocks, datadir.tmp, durable=False, quarantine_dir=datadir.quarantine),
                        policy=Policy({"example.com": NamespacePolicy("example.com", (), keys=KEYS)}),
                        sweep_lock=SweepLock(datadir.gc_lock, datadir.gc_gate))
    yield registry
    run(registry.close())


def rot(reg: Registry, cid: str) -> None:
    path = reg.store.blocks.path(CID.parse(cid))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


async def leaves(reg: Registry, repo: str, data: bytes) -> list[str]:
    record = await reg.stat_blob(repo, Digest.of(data))
    return [cid async for cid, _ in reg.dag(record.content_id)][1:]


def test_a_clean_registry_is_clean(reg, datadir):
    async def go():
        await push_image(reg, "x.org/a", [layer(1), layer(2, size=1000)])
        await reg.build_tree("example.com")
        report = await fsck(reg)
        assert report.clean and report.damage == [] and report.blobs == 4 and report.trees == 1  # empty tree
        await push_image(reg, "example.com/app", [layer(3, size=1000)])
        await reg.build_tree("example.com")
        assert (await fsck(reg)).trees == 2  # the current one, and the first until it expires

    run(go())


def test_a_rotten_block_is_reported_per_repository_and_repaired_by_a_push(reg, datadir):
    shared, only_a = layer(4), layer(5)

    async def go():
        await push_image(reg, "x.org/a", [shared, only_a])
        await push_image(reg, "x.org/b", [shared])
        bad = (await leaves(reg, "x.org/a", shared))[1]
        rot(reg, bad)
        report = await fsck(reg)
        assert not report.clean and len(report.damage) == 1
        damage = report.damage[0]
        assert damage.name == str(Digest.of(shared)) and damage.blocks == [bad]
        assert damage.repositories == ["x.org/a", "x.org/b"] and damage.repaired == ""
        assert report.by_repository() == {"x.org/a": [damage.name], "x.org/b": [damage.name]}
        before = block_files(datadir)

        repaired = await fsck(reg, repair=True)
        assert repaired.clean and repaired.damage[0].repaired.startswith("forgotten; 1 block")
        assert before - block_files(datadir) == {bad}  # only the bad block moved; nothing that verifies
        assert (datadir.quarantine / bad).exists()
        with pytest.raises(BlobUnknown):
            await reg.stat_blob("x.org/b", Digest.of(shared))  # unknown, not a broken stream
        assert await readable(reg, "x.org/a", only_a)

        await push(reg, "x.org/b", shared)  # the client pushes what the registry says it lacks
        assert await readable(reg, "x.org/b", shared) and await readable(reg, "x.org/a", shared)
        assert (await fsck(reg)).damage == []

    run(go())


def test_a_missing_block_and_damaged_manifest_bytes(reg, datadir):
    async def go():
        digest = await push_image(reg, "x.org/a", [layer(6)])
        gone = (await leaves(reg, "x.org/a", layer(6)))[0]
        reg.store.blocks.path(CID.parse(gone)).unlink()
        manifest = (await reg.stat_manifest("x.org/a", digest))[1]
        rot(reg, manifest.content_id)
        report = await fsck(reg)
        kinds = {d.name: d for d in report.damage}
        assert set(kinds) == {str(Digest.of(layer(6))), digest}
        assert kinds[digest].repositories == ["x.org/a"] and kinds[digest].blocks == [manifest.content_id]
        assert kinds[str(Digest.of(layer(6)))].blocks == [gone]
        await fsck(reg, repair=True)
        with pytest.raises(ManifestUnknown):
            await reg.get_manifest("x.org/a", digest)
        assert (await fsck(reg)).clean

    run(go())


def test_a_damaged_current_tree_is_rebuilt_under_a_new_seq(reg, datadir):
    async def go():
        await push_image(reg, "example.com/app", [layer(7, size=1000)])
        tree = await reg.build_tree("example.com")
        rot(reg, tree["root"])
        report = await fsck(reg)
        assert [(d.kind, d.name, d.repositories) for d in report.damage] == [("tree", tree["root"], ["example.com"])]
        repaired = await fsck(reg, repair=True)
        assert repaired.clean and "seq 2" in repaired.damage[0].repaired
        state = await reg.tree_state("example.com")
        assert state["seq"] == 2 and state["root"] != tree["root"]
        assert (await fsck(reg)).damage == []

    run(go())
