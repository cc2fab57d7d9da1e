"""The model's one door, in process: domains, mounts, dedupe, the tree, grants
and the gateway's view of blocks."""

import asyncio
import json

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.datadir import DataDir
from sealedreg.registry.digests import Digest
from sealedreg.registry.domains import Domains
from sealedreg.registry.errors import BlobUnknown, DigestInvalid, ManifestBlobUnknown, NameInvalid, NameUnknown
from sealedreg.registry.index import Index
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.registry.service import Registry
from sealedreg.registry.uploads import Uploads
from sealedreg.storage.embedded import EmbeddedStore

SECRET = bytes(range(32))
KEYS = OrgKeys.generate("example.com")
PARTNER = OrgKeys.generate("partner.org")


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def reg(tmp_path):
    d = DataDir(tmp_path / "data")
    d.prepare()
    policy = Policy({"example.com": NamespacePolicy("example.com", ("secret-*",), keys=KEYS)})
    registry = Registry(Index(d.index), Uploads(d), EmbeddedStore(d.blocks, d.tmp, durable=False),
                        Domains({"example.com": SECRET}, d), policy)
    yield registry
    run(registry.close())


async def push(reg, repo, data):
    session = await reg.start_upload(repo)

    async def body():
        yield data

    return await reg.commit_upload(repo, session.id, Digest.of(data), body())


async def push_image(reg, repo, tag="1", layer=b"layer bytes"):
    cfg = await push(reg, repo, b"{}")
    lay = await push(reg, repo, layer)
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.digest,
                                  "size": 2},
                       "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": lay.digest,
                                   "size": len(layer)}]}).encode()
    await reg.put_manifest(repo, tag, body, "application/vnd.oci.image.manifest.v1+json")
    return body, lay


def test_domains_by_repository(reg):
    async def go():
        return [(await reg.domain_for(r)).name for r in ("example.com/public", "example.com/secret-a", "x.org/a")]
    assert run(go()) == ["global", "org:example.com", "global"]


def test_push_dedupes_within_a_domain_and_never_across(reg):
    async def go():
        a = await push(reg, "x.org/a", b"same")
        b = await push(reg, "y.org/b", b"same")
        c = await push(reg, "example.com/secret-a", b"same")
        return a, b, c
    a, b, c = run(go())
    assert a == b and c.content_id != a.content_id and c.domain == "org:example.com"


def test_mount_never_moves_content_across_domains(reg):
    async def go():
        blob = await push(reg, "x.org/a", b"m")
        cross = await reg.mount_blob("example.com/secret-a", Digest.parse(blob.digest), "x.org/a")
        same = await reg.mount_blob("y.org/b", Digest.parse(blob.digest), "x.org/a")
        missing = await reg.mount_blob("y.org/b", Digest.of(b"nope"), "x.org/a")
        return cross, same, missing
    cross, same, missing = run(go())
    assert cross is None and same is not None and missing is None


def test_discovery_finds_only_what_is_there_to_link(reg, tmp_path):
    """auto_mount (docs/api.md "Blobs another repository holds"): never into a
    namespace pulled from elsewhere, never from a repository the caller may
    not pull, never across domains, and never a blob the store has lost."""
    from sealedreg.registry.federation import Federation

    reg.auto_mount = True
    anyone = lambda name: True  # noqa: E731
    public = run(push(reg, "pub/base", b"base layer"))
    assert run(reg.discover_blob("pub/app", Digest.parse(public.digest), lambda name: False)) is None
    # a private repository writes to its org's domain: a global copy is not its to link
    assert run(reg.discover_blob("example.com/secret-x", Digest.parse(public.digest), anyone)) is None
    secret = run(push(reg, "example.com/secret-a", b"private layer"))
    found = run(reg.discover_blob("example.com/secret-b", Digest.parse(secret.digest), anyone))
    assert found is not None and found.domain == "org:example.com"

    reg.federation = Federation.__new__(Federation)  # a foreign namespace: discovery never writes there
    reg.federation.serves = lambda repo: repo.startswith("partner.org/")
    assert run(reg.discover_blob("partner.org/app", Digest.parse(public.digest), anyone)) is None
    reg.federation = None

    reg.auto_mount = False
    assert run(reg.discover_blob("example.com/secret-c", Digest.parse(secret.digest), anyone)) is None
    reg.auto_mount = True
    for block in (tmp_path / "data" / "blocks").rglob("*"):  # the store loses everything
        if block.is_file():
            block.unlink()
    assert run(reg.discover_blob("pub/other", Digest.parse(public.digest), anyone)) is None
    assert run(reg.discover_blob("example.com/secret-c", Digest.parse(secret.digest), anyone)) is None


def test_reads_are_verified_and_unknown_blobs_refused(reg):
    async def go():
        blob = await push(reg, "x.org/a", b"read me back")
        whole = b"".join([p async for p in reg.read_blob(blob)])
        part = b"".join([p async for p in reg.read_blob(blob, 5, 2)])
        with pytest.raises(BlobUnknown):
            await reg.stat_blob("y.org/b", Digest.parse(blob.digest))
        return whole, part
    assert run(go()) == (b"read me back", b"me")


def test_a_wrong_digest_is_refused_and_leaves_nothing(reg):
    async def go():
        session = await reg.start_upload("x.org/a")

        async def body():
            yield b"abc"

        with pytest.raises(DigestInvalid):
            await reg.commit_upload("x.org/a", session.id, Digest.of(b"abd"), body())
        return await reg.catalog(None, None)
    assert run(go()) == []


def test_manifest_needs_its_blobs(reg):
    body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                  "digest": str(Digest.of(b"{}")), "size": 2}, "layers": []}).encode()
    with pytest.raises(ManifestBlobUnknown):
        run(reg.put_manifest("x.org/a", "1", body, None))


def test_tree_seq_rises_only_on_change(reg):
    async def go():
        await push_image(reg, "example.com/public")
        first = await reg.build_tree("example.com")
        again = await reg.build_tree("example.com")
        await push_image(reg, "example.com/public", tag="2")
        second = await reg.build_tree("example.com")
        return first, again, second
    first, again, second = run(go())
    assert first["changed"] and first["seq"] == 1
    assert not again["changed"] and again["root"] == first["root"] and again["seq"] == 1
    assert second["changed"] and second["seq"] == 2 and second["root"] != first["root"]


def test_grant_and_revoke(reg):
    async def go():
        with pytest.raises(NameInvalid, match="not a private repository"):
            await reg.grant("example.com/public", PARTNER.box.public_key)
        with pytest.raises(NameUnknown, match="push to it first"):
            await reg.grant("example.com/secret-a", PARTNER.box.public_key)
        await push_image(reg, "example.com/secret-a")
        granted = await reg.grant("example.com/secret-a", PARTNER.box.public_key)
        kids = await reg.recipients("example.com/secret-a")
        with pytest.raises(NameUnknown):
            await reg.revoke("example.com/secret-a", "0" * 16)
        revoked = await reg.revoke("example.com/secret-a", PARTNER.public.kid)
        return granted, kids, revoked, await reg.recipients("example.com/secret-a")
    granted, kids, revoked, after = run(go())
    assert kids == [KEYS.public.kid, PARTNER.public.kid] and after == [KEYS.public.kid]
    assert revoked["seq"] == granted["seq"] + 1


def test_the_gateway_sees_only_live_blocks(reg):
    async def go():
        blob = await push(reg, "x.org/a", b"served")
        live = await reg.live_block(blob.content_id)
        block = await reg.block(blob.content_id)
        dag = [cid async for cid, _ in reg.dag(blob.content_id)]
        await reg.delete_blob("x.org/a", Digest.parse(blob.digest))
        return blob, live, block, dag, await reg.live_block(blob.content_id), await reg.live_block("not a cid")
    blob, live, block, dag, after, garbage = run(go())
    assert live == blob.content_id and block is not None and dag == [blob.content_id]
    assert after is None and garbage is None
    assert run(reg.block("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")) is None


def test_describe_says_where_everything_is(reg):
    async def go():
        body, layer = await push_image(reg, "example.com/secret-a")
        return await reg.describe("example.com/secret-a", "1"), layer
    doc, layer = run(go())
    assert doc["domain"] == "org" and {b["role"] for b in doc["blobs"]} == {"config", "layer"}
    assert [b["cid"] for b in doc["blobs"] if b["digest"] == layer.digest] == [layer.content_id]


def test_concurrent_commits_of_one_blob_encrypt_and_store_it_once(tmp_path):
    class CountingStore(EmbeddedStore):
        puts = 0

        async def put_chunks(self, chunks):
            CountingStore.puts += 1
            return await super().put_chunks(chunks)

    d = DataDir(tmp_path / "data")
    d.prepare()
    registry = Registry(Index(d.index), Uploads(d), CountingStore(d.blocks, d.tmp, durable=False))

    async def go():
        records = await asyncio.gather(*(push(registry, f"x.org/r{i}", b"one layer" * 1000) for i in range(10)))
        assert len({r.content_id for r in records}) == 1
        assert registry._storing == {}  # nothing left behind
        await registry.close()

    run(go())
    assert CountingStore.puts == 1
