"""The browse page's data (sealedreg.registry.browse): sizes, shared blobs,
dedupe savings, filtering by what the viewer may pull, publish state."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from nacl.signing import SigningKey

from sealedreg.publish.ipns import ipns_name, make_record
from sealedreg.registry.browse import Content, Refs, build_overview, publish_state
from sealedreg.registry.index import BlobRecord, ManifestRecord

IMAGE = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def d(name: str) -> str:
    return "sha256:" + name.encode().hex().ljust(64, "0")[:64]


def blob(name: str, size: int, domain: str = "global") -> BlobRecord:
    return BlobRecord(d(name), size, "cid-" + name + "-" + domain, domain)


def manifest(repo: str, name: str, size: int, media_type: str = IMAGE, domain: str = "global",
             annotations: dict | None = None) -> tuple[ManifestRecord, str]:
    return ManifestRecord(repo, d(name), domain, media_type, size, None, None, annotations), "cid-" + name


LAYER, CONFIG, OTHER = blob("layer", 1000), blob("config", 10), blob("other", 300)
ORG_LAYER = blob("layer", 1000, "org:c.example")


@pytest.fixture
def content() -> Content:
    """a.example/app and b.example/app share LAYER (global); c.example/app has the
    same layer in its org domain; b.example/app also holds OTHER."""
    return Content(
        blobs=[("a.example/app", LAYER), ("a.example/app", CONFIG),
               ("b.example/app", LAYER), ("b.example/app", CONFIG), ("b.example/app", OTHER),
               ("c.example/app", ORG_LAYER)],
        manifests=[manifest("a.example/app", "m1", 100), manifest("b.example/app", "m1", 100),
                   manifest("b.example/app", "m2", 120), manifest("c.example/app", "m3", 90, domain="org:c.example")],
        tags=[("a.example/app", "1.0", d("m1")), ("b.example/app", "1.0", d("m1")), ("b.example/app", "2.0", d("m2")),
              ("c.example/app", "x", d("m3"))],
    )


REFS = {d("m1"): Refs((d("config"), d("layer"))), d("m2"): Refs((d("config"), d("layer"), d("other"))),
        d("m3"): Refs((d("layer"),))}


def everyone(repo: str) -> bool:
    return True


def test_sizes_per_tag_manifest_repository_and_namespace(content):
    view = build_overview(content, REFS, everyone)
    a, b = view.repository("a.example/app"), view.repository("b.example/app")
    assert a.size == 100 + 1000 + 10
    assert b.size == 100 + 120 + 1000 + 10 + 300
    assert {t.tag: t.total for t in b.tags} == {"1.0": 100 + 1010, "2.0": 120 + 1310}
    assert {m.digest: (m.size, m.total, m.tags) for m in b.manifests} == {
        d("m1"): (100, 1110, ("1.0",)), d("m2"): (120, 1430, ("2.0",))}
    assert [ns.name for ns in view.namespaces] == ["a.example", "b.example", "c.example"]
    assert view.namespaces[1].size == b.size


def test_shared_blobs_and_dedupe_savings(content):
    view = build_overview(content, REFS, everyone)
    shared = {s.digest: s for s in view.shared}
    layer = shared[d("layer")]
    assert layer.repositories == ("a.example/app", "b.example/app", "c.example/app")
    assert layer.copies == 2  # global + org:c.example: the org copy is stored separately
    assert layer.saved == 1000
    assert shared[d("config")].saved == 10
    assert d("other") not in shared
    # referenced: every repository's size; stored: each (digest, domain) once
    assert view.referenced == 1110 + 1530 + 1090
    assert view.stored == 1000 + 10 + 300 + 1000 + 100 + 120 + 90
    assert view.saved == view.referenced - view.stored == 1000 + 10 + 100
    assert {b.digest: b.shared_with for b in view.repository("b.example/app").blobs} == {
        d("layer"): 2, d("config"): 1, d("other"): 0}


def test_only_what_the_viewer_may_pull(content):
    view = build_overview(content, REFS, lambda repo: repo != "b.example/app", configured=["z.example"])
    assert view.repository("b.example/app") is None
    assert "b.example" not in repr(view)  # neither the name nor its namespace, anywhere
    assert [ns.name for ns in view.namespaces] == ["a.example", "c.example", "z.example"]
    # shared and saved count the shown repositories only
    assert [(s.digest, s.repositories) for s in view.shared] == [(d("layer"), ("a.example/app", "c.example/app"))]
    assert view.shared[0].saved == 0  # two domains, two copies: nothing saved
    assert view.saved == 0
    assert view.repository("a.example/app").blobs[1].shared_with == 1  # layer: c.example/app; b is not counted


def test_configured_namespaces_without_content_and_private_flag(content):
    view = build_overview(content, REFS, everyone, is_private=lambda r: r.startswith("c."), configured=["z.example"])
    z = [ns for ns in view.namespaces if ns.name == "z.example"][0]
    assert z.configured and z.repositories == () and z.publish is None
    assert view.repository("c.example/app").private and not view.repository("a.example/app").private


def test_index_counts_children_and_blobs_once():
    content = Content(
        blobs=[("r/x", LAYER), ("r/x", CONFIG), ("r/x", OTHER)],
        manifests=[manifest("r/x", "amd", 100), manifest("r/x", "arm", 110), manifest("r/x", "idx", 50, INDEX)],
        tags=[("r/x", "multi", d("idx"))])
    refs = {d("amd"): Refs((d("config"), d("layer"))), d("arm"): Refs((d("config"), d("layer"), d("other"))),
            d("idx"): Refs((), (d("amd"), d("arm"), d("missing")))}
    view = build_overview(content, refs, everyone)
    assert view.repository("r/x").tags[0].total == 50 + 100 + 110 + 1000 + 10 + 300


def test_unknown_references_give_no_total(content):
    view = build_overview(content, {}, everyone)
    assert all(m.total is None for m in view.repository("a.example/app").manifests)
    assert view.repository("a.example/app").size == 1110  # the repository's size needs no references


def test_publish_state_dnslink_and_ipns():
    plain = publish_state(3, "bafyroot", 2_000_000_000, None, None)
    assert (plain.via, plain.seq, plain.root, plain.ipns_current) == ("dnslink", 3, "bafyroot", False)
    key = SigningKey.generate()
    name = ipns_name(key.verify_key)
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    record = make_record(key, "/ipfs/bafyroot", 3, now + timedelta(days=1), 300 * 10**9)
    current = publish_state(3, "bafyroot", 2_000_000_000, name, record, now)
    assert (current.via, current.ipns_name, current.ipns_current) == ("ipns", name, True)
    assert not publish_state(4, "bafynewer", None, name, record, now).ipns_current
    assert not publish_state(3, "bafyroot", None, name, record, now + timedelta(days=2)).ipns_current  # expired


def test_index_rows_for_browsing(index):
    asyncio.run(index.add_blob("a.example/app", LAYER))
    record, _ = manifest("a.example/app", "m1", 100, annotations={"k": "v"})
    asyncio.run(index.put_manifest(record, BlobRecord(record.digest, 100, "cid-m1", "global"), (), ["1.0"]))
    blobs, manifests, tags = asyncio.run(index.browse_content())
    assert blobs == [("a.example/app", LAYER)]
    assert manifests == [(record, "cid-m1")]
    assert tags == [("a.example/app", "1.0", d("m1"))]
    assert asyncio.run(index.publish_states()) == {}
    asyncio.run(index.set_namespace_state("a.example", 2, "bafyroot", "bafycontent", 1234))
    assert asyncio.run(index.publish_states()) == {"a.example": (2, "bafyroot", 1234, None, None)}
    asyncio.run(index.set_ipns_record("a.example", "k51name", b"record"))
    assert asyncio.run(index.publish_states()) == {"a.example": (2, "bafyroot", 1234, "k51name", b"record")}


def test_publish_state_only_where_the_viewer_may_pull_something(content):
    states = {"a.example": publish_state(3, "bafyroot", 2_000_000_000, None, None),
              "z.example": publish_state(1, "bafyother", 2_000_000_000, None, None)}
    view = build_overview(content, REFS, lambda repo: repo.startswith("a."), configured=["z.example"], states=states)
    by_name = {ns.name: ns for ns in view.namespaces}
    assert by_name["a.example"].publish.root == "bafyroot"
    assert by_name["z.example"].publish is None  # named (it is in DNS anyway), its root not shown


class CountingIndex:
    def __init__(self) -> None:
        self.scans = 0

    async def browse_content(self):
        self.scans += 1
        return [], [], []

    async def publish_states(self):
        return {}


def test_one_scan_of_the_index_serves_every_request_for_a_while():
    from types import SimpleNamespace

    from sealedreg.registry.browse import Browser
    from sealedreg.registry.policy import Policy

    now = [100.0]
    index = CountingIndex()
    browser = Browser(SimpleNamespace(index=index, policy=Policy()), clock=lambda: now[0])

    async def go():
        await asyncio.gather(*(browser.overview(lambda repo: True) for _ in range(20)))
        assert index.scans == 1
        now[0] += Browser.SCAN_TTL
        await browser.overview(lambda repo: False)
        assert index.scans == 2

    asyncio.run(go())
