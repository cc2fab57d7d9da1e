"""Pulling another organisation's namespace from its published tree: which
namespaces are foreign, the descriptor checked before anything else (key,
expiry, seq never rolled back), public and private repositories, and every
manifest and blob verified. DNS is replaced by a fixed Discovery; blocks come
from the publisher's store through a fake gateway fetcher (or, with a fake
Kubo, from the shared store)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish import layout
from sealedreg.publish.builder import (
    NamespaceSnapshot, PublicManifest, PublicTag, SealedRepository, TreeBlob, TreeState, build_tree,
)
from sealedreg.publish.descriptor import make_descriptor
from sealedreg.publish.dnslink import DnsLink
from sealedreg.publish.reader import MAX_TREE_SIZE, TreeReader, read_budget
from sealedreg.publish.records import Hints
from sealedreg.publish.resolver import Discovery, NamespaceNotFound, NamespaceRefused, NamespaceUnavailable
from sealedreg.publish.sealing import PrivateRepository, SealedLayer
from sealedreg.registry import content
from sealedreg.registry.digests import Digest
from sealedreg.registry.domains import GLOBAL, Domains
from sealedreg.registry.errors import (
    BlobUnknown, Denied, IntegrityError, ManifestUnknown, NameUnknown, Unavailable,
)
from sealedreg.registry.federation import REMOTE, Federation, FederationSettings, ForeignBlob
from sealedreg.registry.index import Index
from sealedreg.registry.manifests import OCI_MANIFEST
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.storage.base import ContentMissing, StorageUnavailable
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.kubo_rpc import KuboError
from sealedreg.storage.unixfs import build_directories, file_entry

NS = "acme.test"
PUB = OrgKeys.generate(NS)
PARTNER = OrgKeys.generate("partner.test")
STRANGER = OrgKeys.generate("stranger.test")
GW = "http://gw.acme.test"
APP, SECRET = f"{NS}/app", f"{NS}/secret"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def image_manifest(config: bytes, layer: bytes, **extra) -> bytes:
    return json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": sha256(layer),
                    "size": len(layer)}],
        **extra,
    }, indent=1).encode()


CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = bytes(range(256)) * 300  # 76800 bytes
PRIVATE_LAYER = b"private layer bytes " * 500
MANIFEST = image_manifest(CONFIG, LAYER)
SIGNATURE = image_manifest(CONFIG, b"sig", artifactType="application/x-sig",
                           subject={"mediaType": OCI_MANIFEST, "digest": sha256(MANIFEST), "size": len(MANIFEST)})
PRIVATE_MANIFEST = image_manifest(CONFIG, PRIVATE_LAYER)


def run(coro):
    return asyncio.run(coro)


# -- the publisher's side --------------------------------------------------------------
@dataclass
class Tree:
    root: str
    seq: int
    state: str
    expires: int | None
    cids: dict  # digest -> content id


async def publish(store: EmbeddedStore, *, previous: Tree | None = None, expires: float | None = None,
                  keys: OrgKeys = PUB, grantees=(PARTNER.box.public_key,), tags: dict | None = None,
                  manifests: dict | None = None, private_tags: dict | None = None,
                  private_manifests: dict | None = None, blob_cids: dict | None = None,
                  refresh: bool = False) -> Tree:
    """A tree of `acme.test` with a public repository (app) and a private one (secret)."""
    expires = int(time.time() + 3600) if expires is None else int(expires)
    cids = {}
    for data in (CONFIG, LAYER):
        stored = await content.store_bytes(store, data, Domains().content_key(sha256(data), GLOBAL))
        cids[sha256(data)] = stored.content_id
    private_key = hashlib.sha256(b"org key of " + PRIVATE_LAYER).digest()
    private = await content.store_bytes(store, PRIVATE_LAYER, private_key)
    cids[sha256(PRIVATE_LAYER)] = private.content_id
    cids.update(blob_cids or {})
    manifests = {sha256(MANIFEST): MANIFEST, sha256(SIGNATURE): SIGNATURE} if manifests is None else manifests
    tags = {"1.0": sha256(MANIFEST), "latest": sha256(MANIFEST)} if tags is None else tags
    private_manifests = ({sha256(PRIVATE_MANIFEST): (OCI_MANIFEST, PRIVATE_MANIFEST)}
                         if private_manifests is None else private_manifests)
    private_tags = {"v1": sha256(PRIVATE_MANIFEST)} if private_tags is None else private_tags
    contents = PrivateRepository(SECRET, private_tags, private_manifests, {
        sha256(PRIVATE_LAYER): SealedLayer(cids[sha256(PRIVATE_LAYER)], len(PRIVATE_LAYER), "org", private_key),
        sha256(CONFIG): SealedLayer(cids[sha256(CONFIG)], len(CONFIG), "global",
                                    Domains().content_key(sha256(CONFIG), GLOBAL)),
    })
    snap = NamespaceSnapshot(
        NS, keys,
        blobs=[TreeBlob(sha256(CONFIG), cids[sha256(CONFIG)], True), TreeBlob(sha256(LAYER), cids[sha256(LAYER)], True),
               TreeBlob(sha256(PRIVATE_LAYER), cids[sha256(PRIVATE_LAYER)], False)],
        manifests=[PublicManifest(APP, d, body) for d, body in manifests.items()],
        tags=[PublicTag(APP, t, d) for t, d in tags.items()],
        private=[SealedRepository(contents, tuple(grantees))])
    state = TreeState(previous.seq, previous.root, previous.state, previous.expires) if previous else None
    built = await build_tree(store, snap, state, expires=expires, refresh=refresh)
    return Tree(built.root, built.seq, built.state, built.expires, cids)


# -- the puller's side -------------------------------------------------------------------
class StoreFetcher:
    """A GatewayFetcher whose gateways are the publisher's store."""

    def __init__(self, remote: EmbeddedStore) -> None:
        self.remote = remote
        self.asked: list[tuple[str, tuple[str, ...]]] = []
        self.closed = False

    async def block(self, cid: str, gateways) -> bytes:
        self.asked.append((cid, tuple(gateways)))
        return await self.remote.get_block(cid)

    async def ipns_record(self, name, gateways) -> bytes:
        raise ContentMissing("no record")

    async def aclose(self) -> None:
        self.closed = True


class FakeKubo:
    """What Federation asks of a Kubo node."""

    def __init__(self, fail_peering: bool = False) -> None:
        self.peered: list[str] = []
        self.dialed: list[str] = []
        self.fail_peering = fail_peering

    async def peering_add(self, addr: str) -> None:
        self.peered.append(addr)
        if self.fail_peering:
            raise KuboError("swarm/peering/add", "cannot dial")

    async def swarm_connect(self, addr: str) -> None:
        self.dialed.append(addr)

    async def name_resolve(self, name: str) -> str:
        raise KuboError("name/resolve", "not found")


class CountingStore(EmbeddedStore):
    retained: list[str]

    async def retain(self, content_id):
        self.retained.append(content_id)


def discovery(root: str, keys: OrgKeys = PUB, hints: Hints = Hints((), (GW,)), ttl: float = 60.0) -> Discovery:
    return Discovery(NS, DnsLink("ipfs", root), root, keys.public, hints, ttl)


@dataclass
class World:
    tmp: Path
    remote: EmbeddedStore
    local: EmbeddedStore
    index: Index
    fetcher: StoreFetcher

    def federation(self, root: str | None = None, *, keys=(PARTNER,), policy: Policy | None = None, kubo=None,
                   found: Discovery | Exception | None = None, federate=("*.test",), timeout: float = 10.0,
                   store: EmbeddedStore | None = None, max_tree_size: int = MAX_TREE_SIZE) -> Federation:
        fed = Federation(FederationSettings(federate=tuple(federate), timeout=timeout, cache_min=60, cache_max=600,
                                            max_tree_size=max_tree_size),
                         self.index, store or self.local, Domains(), policy or Policy({}), kubo=kubo,
                         fetcher=self.fetcher, keys=list(keys))
        answer = found if found is not None else (discovery(root) if root else None)
        fed.discoveries = 0  # type: ignore[attr-defined]

        async def discover(namespace: str, now: float | None = None) -> Discovery:
            fed.discoveries += 1  # type: ignore[attr-defined]
            if isinstance(answer, Exception):
                raise answer
            assert answer is not None and namespace == answer.namespace
            return answer

        fed.resolver.discover = discover  # type: ignore[method-assign]
        return fed


def _store(tmp: Path, name: str, cls=EmbeddedStore) -> EmbeddedStore:
    (tmp / f"{name}-tmp").mkdir(exist_ok=True)
    store = cls(tmp / f"{name}-blocks", tmp / f"{name}-tmp", durable=False)
    if cls is CountingStore:
        store.retained = []
    return store


@pytest.fixture
def world(tmp_path):
    remote = _store(tmp_path, "remote")
    w = World(tmp_path, remote, _store(tmp_path, "local"), Index(tmp_path / "index.sqlite"), StoreFetcher(remote))
    yield w
    w.index.close()


async def read_all(fed: Federation, blob: ForeignBlob, offset: int = 0, length: int | None = None) -> bytes:
    return b"".join([piece async for piece in fed.read_blob(blob, offset, length)])


# -- which namespaces ---------------------------------------------------------------------
def policy_owning(*namespaces: str, keys: OrgKeys | None = None) -> Policy:
    return Policy({ns: NamespacePolicy(ns, keys=keys) for ns in namespaces})


@pytest.mark.parametrize("federate, namespace, served", [
    (("*.test",), "acme.test", True),
    (("*.test",), "a.b.test", True),
    (("*.test",), "acme.example", False),
    (("acme.test",), "acme.test", True),
    (("acme.test",), "other.test", False),
    (("*",), "docker.io", True),
    (("*",), "library", False),  # no dot: never a domain
    (("*",), "localhost", False),
    (("*",), "", False),
    ((), "acme.test", False),
    (("acme.tes?",), "acme.test", True),
    (("[ab]cme.test",), "bcme.test", True),
    (("acme.test",), "ACME.test", False),  # case-sensitive: names are lowercase by grammar
])
def test_serves_namespace(world, federate, namespace, served):
    assert world.federation(federate=federate).serves_namespace(namespace) is served


def test_own_namespaces_are_never_foreign(world):
    fed = world.federation(federate=("*",), policy=policy_owning("mine.test"))
    assert not fed.serves_namespace("mine.test") and not fed.serves("mine.test/app")
    assert fed.serves_namespace("acme.test") and fed.serves("acme.test/app/sub")
    fed.refuse_write("mine.test/app")  # own: no refusal here


def test_refuse_write(world):
    fed = world.federation(federate=("*.test",))
    with pytest.raises(Denied, match="acme.test is another organisation's namespace"):
        fed.refuse_write("acme.test/app")
    fed.refuse_write("library/app")
    fed.refuse_write("acme.example/app")


def test_keys_include_the_policy_org_keys_once(world):
    fed = world.federation(keys=(PARTNER,), policy=policy_owning("partner.test", "x.test", keys=PARTNER))
    assert fed.keys == [PARTNER]
    fed = world.federation(keys=(), policy=policy_owning("stranger.test", keys=STRANGER))
    assert fed.keys == [STRANGER]


# -- mounting ---------------------------------------------------------------------------
def test_a_good_tree_mounts_and_its_seq_is_remembered(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        mounted = await fed.mount(NS)
        assert (mounted.seq, mounted.expires, mounted.discovery.root) == (1, tree.expires, tree.root)
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 1
        assert all(gateways == (GW,) for _, gateways in world.fetcher.asked)
        assert await fed.mount(NS) is mounted and fed.discoveries == 1  # cached
        await fed.aclose()
        assert world.fetcher.closed

    run(go())


def test_fetched_tree_blocks_are_kept_locally(world):
    async def go():
        tree = await publish(world.remote)
        await world.federation(tree.root).mount(NS)
        asked = len(world.fetcher.asked)
        assert asked > 0
        await world.federation(tree.root).mount(NS)  # a new federation: the blocks are local now
        assert len(world.fetcher.asked) == asked
        assert await world.local.exists(tree.root)

    run(go())


def test_a_tree_signed_by_another_key_is_refused(world):
    async def go():
        tree = await publish(world.remote, keys=STRANGER)
        fed = world.federation(found=discovery(tree.root, keys=PUB))
        with pytest.raises(NameUnknown, match="expected publisher") as e:
            await fed.mount(NS)
        assert e.value.detail == {"namespace": NS}
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 0  # nothing seen from a refused tree
        with pytest.raises(NameUnknown):
            await fed.mount(NS)
        assert fed.discoveries == 2  # a failure is not cached

    run(go())


def test_an_expired_descriptor_is_refused(world):
    async def go():
        tree = await publish(world.remote, expires=time.time() - 10)
        with pytest.raises(NameUnknown, match="expired"):
            await world.federation(tree.root).mount(NS)
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 0

    run(go())


def test_a_descriptor_without_expiry_is_refused(world):
    async def go():
        blocks = []
        entries = [file_entry(layout.DESCRIPTOR, make_descriptor(NS, 5, PUB), lambda c, b: blocks.append((c, b)))]
        root = build_directories(entries, lambda c, b: blocks.append((c, b)))
        for cid, block in blocks:
            await world.remote.put_block(str(cid), block)
        with pytest.raises(NameUnknown, match="no expiry"):
            await world.federation(str(root)).mount(NS)

    run(go())


def test_a_tree_for_another_namespace_is_refused(world):
    async def go():
        tree = await publish(world.remote)
        other = Discovery("other.test", DnsLink("ipfs", tree.root), tree.root, PUB.public, Hints((), (GW,)), 60)
        fed = world.federation(found=other)
        with pytest.raises(NameUnknown, match="not 'other.test'"):
            await fed.mount("other.test")

    run(go())


def test_a_root_that_is_not_a_tree_is_refused(world):
    async def go():
        stored = await content.store_bytes(world.remote, b"just a file", bytes(32))
        with pytest.raises(NameUnknown, match="not a sealedreg tree"):
            await world.federation(stored.content_id).mount(NS)

    run(go())


def test_a_lower_seq_is_refused_after_a_higher_one_was_seen(world):
    async def go():
        first = await publish(world.remote)
        second = await publish(world.remote, previous=first, refresh=True)
        assert second.seq == 2 and second.root != first.root
        await world.federation(second.root).mount(NS)
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 2
        with pytest.raises(NameUnknown, match="already seen"):
            await world.federation(first.root).mount(NS)  # the old, still unexpired tree: a rollback
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 2
        assert (await world.federation(second.root).mount(NS)).seq == 2  # the same seq again is fine

    run(go())


def test_the_seen_seq_survives_a_restart(world):
    async def go():
        first = await publish(world.remote)
        second = await publish(world.remote, previous=first, refresh=True)
        await world.federation(second.root).mount(NS)
        world.index.close()
        world.index = Index(world.tmp / "index.sqlite")
        with pytest.raises(NameUnknown, match="already seen"):
            await world.federation(first.root).mount(NS)

    run(go())


@pytest.mark.parametrize("error, expected", [
    (NamespaceNotFound("acme.test is not published"), NameUnknown),
    (NamespaceRefused("forged"), NameUnknown),
    (NamespaceUnavailable("DNS down"), Unavailable),
])
def test_resolve_errors_become_registry_errors(world, error, expected):
    with pytest.raises(expected, match=str(error)):
        run(world.federation(found=error).mount(NS))


def test_a_tree_whose_blocks_nobody_has_is_unavailable(world):
    async def go():
        tree = await publish(_store(world.tmp, "elsewhere"))
        with pytest.raises(Unavailable):
            await world.federation(tree.root).mount(NS)

    run(go())


def test_a_gateway_that_is_down_is_unavailable(world):
    async def go():
        tree = await publish(world.remote)

        async def down(cid, gateways):
            raise StorageUnavailable("gateway down")

        world.fetcher.block = down  # type: ignore[method-assign]
        with pytest.raises(Unavailable, match="gateway down"):
            await world.federation(tree.root).mount(NS)

    run(go())


def test_a_resolver_that_hangs_is_unavailable_within_the_timeout(world):
    async def go():
        fed = world.federation(timeout=0.05)

        async def hang(namespace, now=None):
            await asyncio.Event().wait()

        fed.resolver.discover = hang  # type: ignore[method-assign]
        with pytest.raises(Unavailable, match="no answer within 0.05s"):
            await fed.mount(NS)

    run(go())


def test_no_gateway_and_no_kubo_is_unavailable(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(found=discovery(tree.root, hints=Hints(("/ip4/1.2.3.4/tcp/1/p2p/x",), ())))
        with pytest.raises(Unavailable, match="no gateway="):
            await fed.mount(NS)

    run(go())


def test_with_kubo_the_publishers_node_is_peered_and_the_store_read(world):
    async def go():
        shared = _store(world.tmp, "shared", CountingStore)
        tree = await publish(shared)
        node = "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
        kubo = FakeKubo(fail_peering=True)  # a peering failure is only logged
        fed = world.federation(found=discovery(tree.root, hints=Hints((node,), ())), kubo=kubo, store=shared)
        mounted = await fed.mount(NS)
        assert kubo.peered == [node] and mounted.source is shared and world.fetcher.asked == []
        blob = await fed.stat_blob(APP, Digest.parse(sha256(LAYER)))
        assert await read_all(fed, blob, 10, 100) == LAYER[10:110]
        assert shared.retained == []  # a ranged read proves only some leaves
        assert await read_all(fed, blob) == LAYER
        assert shared.retained == [blob.content_id]  # pinned after a whole read verified
        await fed.aclose()

    run(go())


# -- public repositories ---------------------------------------------------------------------
def test_public_manifest_by_tag_and_digest(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        record, body = await fed.manifest(APP, "1.0")
        assert body == MANIFEST
        assert (record.repo, record.digest, record.domain, record.media_type, record.size) == \
            (APP, sha256(MANIFEST), REMOTE, OCI_MANIFEST, len(MANIFEST))
        assert (await fed.manifest(APP, sha256(MANIFEST)))[1] == MANIFEST
        assert await fed.resolve(APP, "latest") == sha256(MANIFEST)
        assert await fed.resolve(APP, sha256(SIGNATURE)) == sha256(SIGNATURE)

    run(go())


def test_unknown_tags_manifests_and_references(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        with pytest.raises(ManifestUnknown):
            await fed.manifest(APP, "2.0")
        with pytest.raises(ManifestUnknown):
            await fed.manifest(APP, sha256(b"nothing"))
        for bad in ("../x", "sha256:short", "a" * 300, "-bad"):
            with pytest.raises(ManifestUnknown):
                await fed.resolve(APP, bad)

    run(go())


def test_an_unknown_repository_is_name_unknown(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        for repo in (f"{NS}/nope", f"{NS}/app/sub", f"{NS}/secre"):
            with pytest.raises(NameUnknown) as e:
                await fed.list_tags(repo, None, None)
            assert e.value.detail == {"name": repo}

    run(go())


def test_list_tags_pages(world):
    async def go():
        tree = await publish(world.remote, tags={t: sha256(MANIFEST) for t in ("a", "b", "c", "d")})
        fed = world.federation(tree.root)
        assert await fed.list_tags(APP, None, None) == ["a", "b", "c", "d"]
        assert await fed.list_tags(APP, "b", None) == ["c", "d"]
        assert await fed.list_tags(APP, None, 2) == ["a", "b"]
        assert await fed.list_tags(APP, "a", 1) == ["b"]
        assert await fed.list_tags(APP, "z", None) == []
        assert await fed.list_tags(APP, None, 0) == []

    run(go())


def test_a_public_manifest_that_does_not_match_its_digest(world):
    async def go():
        forged = sha256(b"what the tag promised")
        tree = await publish(world.remote, manifests={forged: MANIFEST}, tags={"1.0": forged})
        fed = world.federation(tree.root)
        with pytest.raises(IntegrityError, match="does not match its digest"):
            await fed.manifest(APP, "1.0")
        with pytest.raises(IntegrityError):
            await fed.manifest(APP, forged)

    run(go())


def test_referrers_scan_the_repository(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        found = await fed.referrers(APP, sha256(MANIFEST), None)
        assert [r.digest for r in found] == [sha256(SIGNATURE)]
        assert found[0].artifact_type == "application/x-sig" and found[0].subject == sha256(MANIFEST)
        assert [r.digest for r in await fed.referrers(APP, sha256(MANIFEST), "application/x-sig")] == \
            [sha256(SIGNATURE)]
        assert await fed.referrers(APP, sha256(MANIFEST), "application/other") == []
        assert await fed.referrers(APP, sha256(b"no such subject"), None) == []

    run(go())


def test_public_blob_stat_and_read_verify(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        blob = await fed.stat_blob(APP, Digest.parse(sha256(LAYER)))
        assert (blob.digest, blob.size, blob.content_id, blob.domain, blob.namespace) == \
            (sha256(LAYER), len(LAYER), tree.cids[sha256(LAYER)], REMOTE, NS)
        assert blob.key == Domains().content_key(sha256(LAYER), GLOBAL)
        assert await read_all(fed, blob) == LAYER
        assert await read_all(fed, blob, 70000, 5000) == LAYER[70000:75000]
        config = await fed.stat_blob(APP, Digest.parse(sha256(CONFIG)))
        assert await read_all(fed, config) == CONFIG
        with pytest.raises(BlobUnknown):
            await fed.stat_blob(APP, Digest.parse(sha256(b"not there")))

    run(go())


def test_a_public_blob_whose_content_is_another_blobs_fails_to_read(world):
    async def go():
        other = b"not the layer" * 1000
        stored = await content.store_bytes(world.remote, other, Domains().content_key(sha256(LAYER), GLOBAL))
        tree = await publish(world.remote, blob_cids={sha256(LAYER): stored.content_id})
        fed = world.federation(tree.root)
        blob = await fed.stat_blob(APP, Digest.parse(sha256(LAYER)))
        got = bytearray()
        with pytest.raises(IntegrityError):
            async for piece in fed.read_blob(replace(blob, size=len(other))):
                got += piece
        assert bytes(got) != other  # never the complete wrong content

    run(go())


# -- private repositories ---------------------------------------------------------------------
def test_a_private_repository_opens_for_the_granted_key(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root, keys=(STRANGER, PARTNER))
        assert await fed.list_tags(SECRET, None, None) == ["v1"]
        record, body = await fed.manifest(SECRET, "v1")
        assert body == PRIVATE_MANIFEST and record.digest == sha256(PRIVATE_MANIFEST) and record.domain == REMOTE
        blob = await fed.stat_blob(SECRET, Digest.parse(sha256(PRIVATE_LAYER)))
        assert blob.size == len(PRIVATE_LAYER) and blob.namespace == NS
        assert await read_all(fed, blob) == PRIVATE_LAYER
        assert await read_all(fed, blob, 5, 10) == PRIVATE_LAYER[5:15]
        with pytest.raises(BlobUnknown):
            await fed.stat_blob(SECRET, Digest.parse(sha256(LAYER)))  # a public blob, not in this repository
        with pytest.raises(ManifestUnknown):
            await fed.manifest(SECRET, "1.0")
        with pytest.raises(ManifestUnknown):
            await fed.manifest(SECRET, sha256(MANIFEST))
        assert await fed.referrers(SECRET, sha256(PRIVATE_MANIFEST), None) == []

    run(go())


def test_the_publishers_own_key_opens_its_private_repository(world):
    async def go():
        tree = await publish(world.remote, grantees=())
        fed = world.federation(tree.root, keys=(), policy=policy_owning("other.test", keys=PUB))
        assert await fed.list_tags(SECRET, None, None) == ["v1"]

    run(go())


def test_a_private_repository_is_unknown_to_other_keys(world):
    async def go():
        tree = await publish(world.remote)
        for keys in ((STRANGER,), ()):
            fed = world.federation(tree.root, keys=keys)
            with pytest.raises(NameUnknown):
                await fed.list_tags(SECRET, None, None)
            with pytest.raises(NameUnknown):
                await fed.manifest(SECRET, "v1")
            with pytest.raises(NameUnknown):
                await fed.stat_blob(SECRET, Digest.parse(sha256(PRIVATE_LAYER)))

    run(go())


def test_a_revoked_key_no_longer_opens_the_new_tree(world):
    async def go():
        first = await publish(world.remote)
        second = await publish(world.remote, previous=first, grantees=())
        assert second.seq == 2
        fed = world.federation(second.root)
        with pytest.raises(NameUnknown):
            await fed.list_tags(SECRET, None, None)

    run(go())


def test_a_private_manifest_that_does_not_match_its_digest(world):
    async def go():
        forged = sha256(b"promised")
        tree = await publish(world.remote, private_tags={"v1": forged},
                             private_manifests={forged: (OCI_MANIFEST, PRIVATE_MANIFEST)})
        fed = world.federation(tree.root)
        with pytest.raises(IntegrityError, match="does not match its digest"):
            await fed.manifest(SECRET, "v1")

    run(go())


def test_an_envelope_moved_to_another_repositorys_place_is_refused(world):
    async def go():
        tree = await publish(world.remote)
        reader = TreeReader(world.remote.get_block, tree.root, NS)
        await reader.descriptor(PUB.sig.verify_key)
        envelope = await reader.envelope(SECRET, PUB)
        descriptor = await reader.file(layout.DESCRIPTOR)
        blocks = []
        entries = [file_entry(layout.DESCRIPTOR, descriptor, lambda c, b: blocks.append((c, b))),
                   file_entry(layout.envelope_path(layout.new_envelope_id()), envelope,
                              lambda c, b: blocks.append((c, b)))]
        root = build_directories(entries, lambda c, b: blocks.append((c, b)))
        for cid, block in blocks:
            await world.remote.put_block(str(cid), block)
        fed = world.federation(str(root))
        with pytest.raises(NameUnknown):
            await fed.list_tags(f"{NS}/other", None, None)

    run(go())


# -- a tree built from a genuine descriptor and other content -----------------------------
async def spliced_tree(store: EmbeddedStore, genuine: Tree, files: dict[str, bytes]) -> str:
    """A tree holding `genuine`'s descriptor (copied byte for byte: anyone can)
    beside `files`, as someone able to change `_dnslink` could publish."""
    descriptor = await TreeReader(store.get_block, genuine.root, NS).file(layout.DESCRIPTOR)
    blocks = []

    def sink(cid, block):
        blocks.append((cid, block))

    entries = [file_entry(layout.DESCRIPTOR, descriptor, sink)]
    entries += [file_entry(path, data, sink) for path, data in files.items()]
    root = build_directories(entries, sink)
    for cid, block in blocks:
        await store.put_block(str(cid), block)
    return str(root)


def test_an_older_envelope_beside_the_current_descriptor_is_refused(world):
    async def go():
        old = await publish(world.remote, private_tags={"v1": sha256(PRIVATE_MANIFEST), "old": sha256(PRIVATE_MANIFEST)})
        current = await publish(world.remote, previous=old)
        assert current.seq == 2
        old_reader = TreeReader(world.remote.get_block, old.root, NS)
        await old_reader.descriptor(PUB.sig.verify_key)
        current_reader = TreeReader(world.remote.get_block, current.root, NS)
        await current_reader.descriptor(PUB.sig.verify_key)
        (entry,) = await current_reader.private_entries(PUB)
        root = await spliced_tree(world.remote, current, {layout.envelope_path(entry.envelope):
                                                          await old_reader.envelope(SECRET, PUB)})
        fed = world.federation(root)
        # the descriptor is genuine and current, but it signs the tree's content: the splice
        # is refused at once (and, were it not, the envelope's seq is below the tree's)
        with pytest.raises(NameUnknown, match="not what its sealedreg.json signed"):
            await fed.list_tags(SECRET, None, None)

    run(go())


def test_public_content_beside_a_copied_descriptor_is_refused(world):
    async def go():
        genuine = await publish(world.remote)
        evil = image_manifest(CONFIG, b"malware")
        root = await spliced_tree(world.remote, genuine, {
            layout.tag_path(APP, "1.0"): sha256(evil).encode(),
            layout.manifest_path(APP, sha256(evil)): evil,
        })
        fed = world.federation(root)
        with pytest.raises((NameUnknown, IntegrityError)):
            await fed.manifest(APP, "1.0")  # today: the attacker's manifest, "verified"

    run(go())


# -- report ---------------------------------------------------------------------------------
def test_report_of_a_good_tree(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root, keys=(PARTNER,))
        out = await fed.report(NS)
        assert out["verified"] and out["seq"] == 1 and out["expires"] == tree.expires and out["root"] == tree.root
        assert out["dnslink"] == f"/ipfs/{tree.root}" and out["hints"] == {"ipfsnode": [], "gateway": [GW]}
        assert out["keys"]["sig"] == PUB.public.sig_text and "error" not in out
        (listed,) = out["private"]
        assert listed == {"envelope": listed["envelope"], "repo": SECRET, "opens": True, "key": PARTNER.name}
        assert out["sealed"] == 1 and out["format"] == 2 and out["signer"] == PUB.public.sig_text
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 0  # diagnostic: raises no seen seq
        stranger = await world.federation(tree.root, keys=(STRANGER,)).report(NS)
        assert stranger["verified"] and stranger["private"] == [] and stranger["sealed"] == 1

    run(go())


def test_report_of_a_refused_tree(world):
    async def go():
        tree = await publish(world.remote, expires=time.time() - 5)
        out = await world.federation(tree.root).report(NS)
        assert not out["verified"] and "expired" in out["error"] and out["seq"] is None

    run(go())


def test_report_when_blocks_are_unavailable(world):
    async def go():
        tree = await publish(_store(world.tmp, "elsewhere"))
        out = await world.federation(tree.root).report(NS)
        assert not out["verified"] and out["error"].startswith("cannot read the tree")

    run(go())


def test_report_ignores_federate(world):
    async def go():
        tree = await publish(world.remote)
        out = await world.federation(tree.root, federate=()).report(NS)
        assert out["verified"]

    run(go())


def test_report_says_why_when_blocks_never_come(world):
    async def go():
        tree = await publish(world.remote)

        async def hang(cid, gateways):
            await asyncio.Event().wait()

        world.fetcher.block = hang  # type: ignore[method-assign]
        out = await world.federation(tree.root, timeout=0.05).report(NS)
        assert out["error"] == "cannot read the tree: no answer in time"

    run(go())


# -- the publisher rotates its keys -------------------------------------------------------
ROTATED = PUB.rotated()


def test_a_puller_that_knew_the_old_key_follows_the_rotation(world):
    async def go():
        before = await publish(world.remote)
        await world.federation(before.root).mount(NS)
        after = await publish(world.remote, previous=before, keys=ROTATED)
        assert after.seq == before.seq + 1
        fed = world.federation(after.root)  # DNS still names the old key
        mounted = await fed.mount(NS)
        assert mounted.descriptor.signer == ROTATED.public.sig_text
        assert mounted.descriptor.rotated_from == PUB.public.sig_text
        assert await world.index.successor(NS, PUB.public.sig_text) == ROTATED.public.sig_text
        assert await world.index.seen_seq(NS, ROTATED.public.sig_text) == after.seq
        assert await fed.list_tags(SECRET, None, None) == ["v1"]  # sealed to PARTNER, signed by the new key
        # DNS catches up: the new key is trusted directly
        assert (await world.federation(found=discovery(after.root, keys=ROTATED)).mount(NS)).seq == after.seq

    run(go())


def test_after_a_rotation_a_tree_signed_only_by_the_old_key_is_refused(world):
    async def go():
        before = await publish(world.remote)
        after = await publish(world.remote, previous=before, keys=ROTATED)
        await world.federation(after.root).mount(NS)  # followed
        # whoever holds the old key signs a newer-looking tree with it alone
        stale = await publish(world.remote, previous=after, keys=PUB, private_tags={"evil": sha256(MANIFEST)})
        assert stale.seq > after.seq
        with pytest.raises(NameUnknown, match="rotated away from"):
            await world.federation(stale.root).mount(NS)
        assert await world.index.seen_seq(NS, ROTATED.public.sig_text) == after.seq  # nothing from the stale tree

    run(go())


def test_a_puller_that_never_saw_the_rotation_still_trusts_dns(world):
    async def go():
        before = await publish(world.remote)
        after = await publish(world.remote, previous=before, keys=ROTATED)
        # first contact: DNS names the new key; the countersignature is not needed
        mounted = await world.federation(found=discovery(after.root, keys=ROTATED)).mount(NS)
        assert mounted.descriptor.rotated_from is None and await world.index.successor(NS, PUB.public.sig_text) is None

    run(go())


def test_a_rotation_not_countersigned_by_the_trusted_key_is_refused(world):
    async def go():
        mallory = OrgKeys(NS, STRANGER.sig, STRANGER.box, previous=OrgKeys(NS, STRANGER.sig, STRANGER.box))
        forged = await publish(world.remote, keys=mallory)  # claims a rotation, signed by the wrong old key
        with pytest.raises(NameUnknown, match="expected publisher"):
            await world.federation(found=discovery(forged.root, keys=PUB)).mount(NS)
        assert await world.index.successor(NS, PUB.public.sig_text) is None

    run(go())


def test_a_recipient_that_rotated_still_opens_with_its_previous_key(world):
    async def go():
        tree = await publish(world.remote)  # sealed to PARTNER's old box key
        fed = world.federation(tree.root, keys=(PARTNER.rotated(),))
        assert await fed.list_tags(SECRET, None, None) == ["v1"]

    run(go())


def test_resolutions_are_counted_hit_miss_and_error(world):
    from sealedreg.metrics import sample

    def count(result: str) -> float:
        return sample("sealedreg_federation_resolutions_total", {"result": result})

    async def go():
        before = {r: count(r) for r in ("hit", "miss", "error")}
        timed = sample("sealedreg_federation_resolution_duration_seconds_count", {"result": "miss"})
        tree = await publish(world.remote)
        fed = world.federation(tree.root)
        await fed.mount(NS)
        await fed.mount(NS)
        refused = world.federation(found=discovery((await publish(world.remote, keys=STRANGER)).root, keys=PUB))
        with pytest.raises(NameUnknown):
            await refused.mount(NS)
        assert {r: count(r) - before[r] for r in before} == {"hit": 1, "miss": 1, "error": 1}
        assert sample("sealedreg_federation_resolution_duration_seconds_count", {"result": "miss"}) == timed + 1

    run(go())


# -- how much of a tree one request may read (max_tree_size) ---------------------------------
HUGE = OrgKeys.generate("huge.test")


async def measured(fed: Federation, work) -> int:
    """Tree bytes `work` reads (within a budget that only counts, which the federation's own joins)."""
    with read_budget(0) as budget:
        await work(fed)
    return budget.used


def test_a_pull_just_within_max_tree_size_and_one_byte_over(world):
    async def go():
        tree = await publish(world.remote)
        pull = lambda fed: fed.manifest(APP, "1.0")  # noqa: E731 - resolves the namespace, reads tag and manifest
        used = await measured(world.federation(tree.root), pull)
        assert 0 < used < 64 << 10
        assert (await pull(world.federation(tree.root, max_tree_size=used)))[1] == MANIFEST
        with pytest.raises(Denied) as e:
            await pull(world.federation(tree.root, max_tree_size=used - 1))
        assert e.value.message.startswith(f"{NS}: this request would read more than {used - 1} bytes of the "
                                          "namespace's published tree (max_tree_size)")
        assert e.value.detail == {"namespace": NS, "max_tree_size": used - 1}
        assert (await pull(world.federation(tree.root, max_tree_size=0)))[1] == MANIFEST  # 0: no limit

    run(go())


def test_a_refused_resolution_is_neither_cached_nor_remembered(world):
    async def go():
        tree = await publish(world.remote)
        fed = world.federation(tree.root, max_tree_size=100)  # less than the root and descriptor
        with pytest.raises(Denied, match=r"max_tree_size"):
            await fed.mount(NS)
        with pytest.raises(Denied):
            await fed.list_tags(APP, None, None)
        assert fed.discoveries == 2
        assert await world.index.seen_seq(NS, PUB.public.sig_text) == 0
        assert not await world.local.exists(tree.root)  # nothing kept of a tree that was not verified

    run(go())


async def publish_huge(store: EmbeddedStore, tags: int) -> str:
    """huge.test: one manifest, and a tags directory of `tags` entries."""
    snap = NamespaceSnapshot("huge.test", HUGE, manifests=[PublicManifest("huge.test/app", sha256(MANIFEST), MANIFEST)],
                             tags=[PublicTag("huge.test/app", f"t{i:05}", sha256(MANIFEST)) for i in range(tags)])
    return (await build_tree(store, snap, None, expires=int(time.time() + 3600))).root


def test_a_huge_tags_directory_is_refused_and_nothing_else_is(world):
    """A publisher whose tags directory is larger than this registry reads for one request:
    the requests that read it are refused (403), every other request — to that namespace
    or another — is served by the same federation."""
    async def go():
        tree = await publish(world.remote)
        huge = await publish_huge(world.remote, 3000)
        fed = world.federation(tree.root, max_tree_size=128 << 10)
        answers = {NS: discovery(tree.root), "huge.test": Discovery("huge.test", DnsLink("ipfs", huge), huge,
                                                                     HUGE.public, Hints((), (GW,)), 60.0)}

        async def discover(namespace: str, now: float | None = None) -> Discovery:
            return answers[namespace]

        fed.resolver.discover = discover  # type: ignore[method-assign]
        for request in (fed.list_tags("huge.test/app", None, None), fed.manifest("huge.test/app", "t00001")):
            with pytest.raises(Denied) as e:
                await request
            assert "131072 bytes of the namespace's published tree (max_tree_size), at " \
                   "/repos/huge.test/app/tags" in e.value.message
            assert e.value.detail == {"namespace": "huge.test", "max_tree_size": 128 << 10}
        assert (await fed.manifest("huge.test/app", sha256(MANIFEST)))[1] == MANIFEST  # not through the tags
        assert (await fed.manifest(APP, "1.0"))[1] == MANIFEST
        assert await fed.list_tags(APP, None, None) == ["1.0", "latest"]
        assert await read_all(fed, await fed.stat_blob(APP, Digest.parse(sha256(LAYER)))) == LAYER
        unlimited = world.federation(max_tree_size=0)
        unlimited.resolver.discover = discover  # type: ignore[method-assign]
        assert len(await unlimited.list_tags("huge.test/app", None, None)) == 3000

    run(go())


def test_referrers_read_each_manifest_once(world):
    """A scan reads the manifests directory once and each manifest by its CID: what it
    reads grows with the manifests, not with their square (the default limit must never
    refuse a scan of an ordinary repository)."""
    async def go():
        sigs = {}
        for i in range(200):
            body = image_manifest(CONFIG, b"sig %d" % i, artifactType="application/x-sig",
                                  subject={"mediaType": OCI_MANIFEST, "digest": sha256(MANIFEST),
                                           "size": len(MANIFEST)})
            sigs[sha256(body)] = body
        tree = await publish(world.remote, manifests={sha256(MANIFEST): MANIFEST, **sigs})
        reader = TreeReader(world.remote.get_block, tree.root, NS)
        directory = len(await world.remote.get_block(str(await reader.cid(f"repos/{APP}/manifests"))))
        assert directory > 200 * 100
        used = await measured(world.federation(tree.root), lambda f: f.referrers(APP, sha256(MANIFEST), None))
        assert used < sum(len(b) for b in sigs.values()) + len(MANIFEST) + 2 * directory + (16 << 10)
        found = await world.federation(tree.root, max_tree_size=used).referrers(APP, sha256(MANIFEST), None)
        assert sorted(r.digest for r in found) == sorted(sigs)

    run(go())


def test_report_says_the_tree_is_over_max_tree_size(world):
    async def go():
        tree = await publish(world.remote)
        out = await world.federation(tree.root, max_tree_size=100).report(NS)
        assert not out["verified"] and "max_tree_size" in out["error"] and "100 bytes" in out["error"]

    run(go())
