"""Blobs acknowledged before they are encrypted (registry.landing): visible and
served verified at once, stored right after, never published, exported or
collected half-done, and landed after a crash by the next start."""

from __future__ import annotations

import asyncio
import json
import os

import pytest

from sealedreg.datadir import DataDir
from sealedreg.registry.digests import Digest
from sealedreg.registry.domains import Domains
from sealedreg.registry.errors import BlobUnknown, BlobUploadUnknown, IntegrityError, Unavailable
from sealedreg.registry.gc import collect_garbage
from sealedreg.registry.index import Index
from sealedreg.registry.landing import LandingBlob
from sealedreg.registry.service import Registry
from sealedreg.registry.uploads import Uploads
from sealedreg.storage.base import StorageUnavailable
from sealedreg.storage.embedded import EmbeddedStore

LAYER = os.urandom(3 * 1024 * 1024 + 17)
DIGEST = Digest.of(LAYER)


class GatedStore(EmbeddedStore):
    """Stores content of a full chunk or more (the layers) only once `gate`
    is set; the first `fail` attempts fail as if the store were down."""

    def __init__(self, d: DataDir, fail: int = 0) -> None:
        super().__init__(d.blocks, d.tmp, durable=False)
        self.gate = asyncio.Event()
        self.fail = fail
        self.attempts = 0

    async def put_chunks(self, chunks):
        chunks = chunks.__aiter__()
        first = await chunks.__anext__()

        async def again():
            yield first
            async for chunk in chunks:
                yield chunk

        if len(first) >= 1 << 20:
            self.attempts += 1
            await self.gate.wait()
            if self.fail:
                self.fail -= 1
                raise StorageUnavailable("the store is down")
        return await super().put_chunks(again())


def open_registry(d: DataDir, store=None, background_min: int | None = 1024) -> Registry:
    return Registry(Index(d.index), Uploads(d, durable=False), store or EmbeddedStore(d.blocks, d.tmp, durable=False),
                    Domains({}, d), background_min=background_min)


async def push(reg: Registry, repo: str, data: bytes = LAYER):
    session = await reg.start_upload(repo)

    async def body():
        yield data

    return await reg.commit_upload(repo, session.id, Digest.of(data), body()), session.id


async def read(reg: Registry, repo: str, digest: Digest = DIGEST, offset: int = 0, length: int | None = None):
    record = await reg.stat_blob(repo, digest)
    return b"".join([p async for p in reg.read_blob(record, offset, length)])


def manifest(*digests_sizes) -> bytes:
    (cfg, cfg_size), *layers = digests_sizes
    return json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg,
                                  "size": cfg_size},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": n}
                                  for d, n in layers]}).encode()


@pytest.fixture
def d(tmp_path) -> DataDir:
    d = DataDir(tmp_path / "data")
    d.prepare()
    return d


def test_a_large_blob_is_acknowledged_served_and_referenced_before_it_is_stored(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        record, session = await push(reg, "x.org/app")
        assert isinstance(record, LandingBlob) and record.size == len(LAYER)
        assert await reg.index.blob(str(DIGEST), "global") is None  # not stored yet
        assert await read(reg, "x.org/app") == LAYER  # served from the verified upload
        cfg, _ = await push(reg, "x.org/app", b"{}")  # small: stored before the 201
        assert not isinstance(cfg, LandingBlob)
        await reg.put_manifest("x.org/app", "1", manifest((cfg.digest, 2), (str(DIGEST), len(LAYER))),
                               "application/vnd.oci.image.manifest.v1+json")
        ranged = asyncio.create_task(read(reg, "x.org/app", offset=5, length=10))
        await asyncio.sleep(0.05)
        assert not ranged.done()  # a ranged read waits for the ciphertext
        store.gate.set()
        assert await ranged == LAYER[5:15]
        await reg.settle()
        stored = await reg.index.repo_blob("x.org/app", str(DIGEST))
        assert stored is not None and stored.content_id and not d.session_dir(session).exists()
        assert await read(reg, "x.org/app") == LAYER
        await reg.close()

    asyncio.run(go())


def test_a_committed_session_takes_no_more_requests(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        _, session = await push(reg, "x.org/app")
        with pytest.raises(BlobUploadUnknown):
            await reg.upload_status("x.org/app", session)
        with pytest.raises(BlobUploadUnknown):
            await reg.commit_upload("x.org/app", session, DIGEST)
        assert await reg.uploads.expire(now=10**12) == 0  # never stale while it waits to be stored
        assert [s.id for s in await reg.uploads.committed()] == [session]
        store.gate.set()
        await reg.close()

    asyncio.run(go())


def test_a_crash_before_the_blob_is_stored_is_finished_by_the_next_start(d):
    async def go():
        first = open_registry(d, GatedStore(d))  # never stores: the process "dies" first
        _, session = await push(first, "x.org/app")
        assert await first.landings.drain(0) == 1  # killed: the committed session stays
        first.index.close()
        assert d.session_dir(session).exists()

        second = open_registry(d)
        with pytest.raises(BlobUnknown):  # not visible until the start recovers it
            await second.stat_blob("x.org/app", DIGEST)
        assert await second.recover_landings() == 1
        assert await read(second, "x.org/app") == LAYER
        await second.settle()
        assert (await second.index.repo_blob("x.org/app", str(DIGEST))) is not None
        assert not d.session_dir(session).exists()
        await second.close()

    asyncio.run(go())


def test_a_record_whose_file_was_damaged_is_given_up_by_its_landing_not_stored(d):
    async def go():
        first = open_registry(d, GatedStore(d))
        _, session = await push(first, "x.org/app")
        await first.landings.drain(0)
        first.index.close()
        data = d.session_data(session)
        data.write_bytes(b"\0" + data.read_bytes()[1:])

        second = open_registry(d)
        assert await second.recover_landings() == 1  # only sizes are checked before listening
        await second.settle()
        assert not d.session_dir(session).exists()
        with pytest.raises(BlobUnknown):
            await second.stat_blob("x.org/app", DIGEST)
        assert await second.index.blob(str(DIGEST), "global") is None
        await second.close()

    asyncio.run(go())


def test_recovery_keeps_what_it_cannot_store_now_and_starts_anyway(d):
    async def go():
        secret = bytes(range(32))
        first = Registry(Index(d.index), Uploads(d, durable=False), GatedStore(d),
                         Domains({"org.example": secret}, d), background_min=1024)
        _, kept = await push(first, "org.example/app")  # in the org domain
        await first.landings.drain(0)
        first.index.close()
        broken = d.session_dir("0" * 32)
        broken.mkdir()
        (broken / "data").write_bytes(b"")
        (broken / "state.json").write_text(json.dumps({"id": "0" * 32, "repo": "x.org/a", "offset": 0,
                                                        "created": 0, "updated": 0, "committed": {"x": 1}}))

        second = open_registry(d)  # started without the org's secret: a config mistake
        assert await second.recover_landings() == 0
        assert d.session_dir(kept).exists() and broken.exists()  # nothing deleted
        second.index.close()

        third = Registry(Index(d.index), Uploads(d, durable=False), EmbeddedStore(d.blocks, d.tmp, durable=False),
                         Domains({"org.example": secret}, d), background_min=1024)
        assert await third.recover_landings() == 1  # the config fixed: it lands
        await third.settle("org.example")
        assert (await third.index.repo_blob("org.example/app", str(DIGEST))).domain == "org:org.example"
        await third.close(drain=0)

    asyncio.run(go())


def test_a_landing_whose_session_vanished_ends_instead_of_retrying(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        _, session = await push(reg, "x.org/app")
        import shutil
        shutil.rmtree(d.session_dir(session))  # an operator cleaning uploads/ by hand
        store.gate.set()
        assert await reg.landings.drain(10) == 0  # ended by itself, not stopped mid-retry
        with pytest.raises(BlobUnknown):
            await asyncio.wait_for(reg.delete_blob("x.org/app", DIGEST), 10)  # waits for nothing
        await reg.close()

    asyncio.run(go())


def test_bytes_changed_while_waiting_are_served_and_stored_never(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        _, session = await push(reg, "x.org/app")
        data = d.session_data(session)
        data.write_bytes(data.read_bytes()[:-1] + b"\0")
        with pytest.raises(IntegrityError):
            await read(reg, "x.org/app")
        store.gate.set()
        await reg.settle()
        assert await reg.index.blob(str(DIGEST), "global") is None  # given up, not stored wrong
        assert not d.session_dir(session).exists()
        await reg.close()

    asyncio.run(go())


def test_the_same_content_pushed_again_while_landing_is_acknowledged_and_stored_once(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        await push(reg, "x.org/a")
        second, _ = await asyncio.wait_for(push(reg, "x.org/b"), 10)  # no waiting for the first to land
        assert isinstance(second, LandingBlob)
        store.gate.set()
        await reg.settle()
        a = await reg.index.repo_blob("x.org/a", str(DIGEST))
        b = await reg.index.repo_blob("x.org/b", str(DIGEST))
        assert store.attempts == 1 and a.content_id == b.content_id  # encrypted once, linked twice
        await reg.close()

    asyncio.run(go())


def test_a_publish_never_takes_a_manifest_whose_layer_is_still_landing(d):
    from sealedreg.crypto.keys import OrgKeys
    from sealedreg.registry.policy import NamespacePolicy, Policy

    async def go():
        store = GatedStore(d)
        reg = Registry(Index(d.index), Uploads(d, durable=False), store, Domains({}, d),
                       Policy({"x.org": NamespacePolicy("x.org", (), keys=OrgKeys.generate("x.org"))}),
                       background_min=1024)
        await push(reg, "x.org/app")
        cfg, _ = await push(reg, "x.org/app", b"{}")
        await reg.put_manifest("x.org/app", "1", manifest((cfg.digest, 2), (str(DIGEST), len(LAYER))),
                               "application/vnd.oci.image.manifest.v1+json")
        building = asyncio.create_task(reg.build_tree("x.org"))
        await asyncio.sleep(0.1)
        assert not building.done()
        store.gate.set()
        await building
        layer = await reg.index.repo_blob("x.org/app", str(DIGEST))
        root = (await reg.tree_state("x.org"))["root"]
        in_tree = await reg.index._run(lambda db: [row[0] for row in db.execute(
            "SELECT content_id FROM tree_content WHERE root = ?", (root,))])
        assert layer.content_id in in_tree
        await reg.close()

    asyncio.run(go())


def test_a_tree_built_while_a_layer_lands_is_retried_until_it_holds_it(d, monkeypatch):
    """The snapshot can fall between a layer's index row and its session's removal:
    the build notices the manifest's reference and snapshots again."""
    from sealedreg.crypto.keys import OrgKeys
    from sealedreg.registry.policy import NamespacePolicy, Policy

    async def go():
        reg = Registry(Index(d.index), Uploads(d, durable=False), EmbeddedStore(d.blocks, d.tmp, durable=False),
                       Domains({}, d), Policy({"x.org": NamespacePolicy("x.org", (), keys=OrgKeys.generate("x.org"))}),
                       background_min=None)
        await push(reg, "x.org/app")
        cfg, _ = await push(reg, "x.org/app", b"{}")
        await reg.put_manifest("x.org/app", "1", manifest((cfg.digest, 2), (str(DIGEST), len(LAYER))),
                               "application/vnd.oci.image.manifest.v1+json")
        real = reg.index.namespace_content
        calls = []

        async def stale(namespace):  # the first snapshot misses the layer, as if read just before it landed
            blobs, manifests, tags = await real(namespace)
            calls.append(1)
            return ([row for row in blobs if row[1].digest != str(DIGEST)] if len(calls) == 1 else blobs,
                    manifests, tags)

        monkeypatch.setattr(reg.index, "namespace_content", stale)
        await reg.build_tree("x.org")
        assert len(calls) == 2
        await reg.close()

    asyncio.run(go())


def test_a_store_that_is_down_is_retried_until_the_blob_lands(d, monkeypatch):
    monkeypatch.setattr("sealedreg.registry.landing.RETRY_FIRST", 0.01)
    async def go():
        store = GatedStore(d, fail=2)
        store.gate.set()
        reg = open_registry(d, store)
        await push(reg, "x.org/app")
        await reg.settle()
        assert store.attempts == 3 and await reg.index.repo_blob("x.org/app", str(DIGEST)) is not None
        await reg.close()

    asyncio.run(go())


def test_delete_and_mount_wait_for_the_blob_to_land(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        await push(reg, "x.org/a")
        mount = asyncio.create_task(reg.mount_blob("x.org/b", DIGEST, "x.org/a"))
        delete = asyncio.create_task(reg.delete_blob("x.org/a", DIGEST))
        await asyncio.sleep(0.05)
        assert not mount.done() and not delete.done()
        store.gate.set()
        assert (await mount).content_id
        await delete
        assert await reg.index.repo_blob("x.org/a", str(DIGEST)) is None  # unlinked after it landed, for good
        assert await reg.index.repo_blob("x.org/b", str(DIGEST)) is not None
        await reg.close()

    asyncio.run(go())


def test_another_process_waits_for_blobs_to_land_and_gives_up_clearly(d):
    async def go():
        store = GatedStore(d)
        serve = open_registry(d, store)
        await push(serve, "x.org/app")
        cli = open_registry(d)  # a CLI process: it sees only the committed session on disk
        with pytest.raises(Unavailable, match="still being encrypted"):
            await cli.settle("x.org", timeout=0.2)
        await cli.settle("y.org", timeout=0.2)  # another namespace has nothing to wait for
        waiting = asyncio.create_task(cli.settle("x.org"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        store.gate.set()
        await waiting
        assert await cli.index.repo_blob("x.org/app", str(DIGEST)) is not None
        await serve.close()
        await cli.close()

    asyncio.run(go())


def test_gc_right_after_a_push_sees_what_it_stored(d):
    async def go():
        store = GatedStore(d)
        reg = open_registry(d, store)
        await push(reg, "x.org/app")
        collecting = asyncio.create_task(collect_garbage(reg, grace=0))
        await asyncio.sleep(0.05)
        store.gate.set()
        report = await collecting
        # the layer landed before the marking: unreferenced by any manifest and past grace 0, it is freed
        assert report.blobs == 1
        await reg.close()

    asyncio.run(go())


def test_small_blobs_and_a_disabled_background_are_stored_before_the_201(d):
    async def go():
        reg = open_registry(d, background_min=None)
        record, _ = await push(reg, "x.org/app")
        assert not isinstance(record, LandingBlob) and record.content_id
        reg2 = open_registry(d, background_min=len(LAYER) + 2)  # one byte over what is pushed
        record, _ = await push(reg2, "x.org/b", LAYER + b"!")
        assert not isinstance(record, LandingBlob)
        await reg.close()
        reg2.index.close()

    asyncio.run(go())

