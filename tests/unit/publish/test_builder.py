"""Building a tree from a snapshot: what is in the clear, what is sealed, and
nothing rebuilt when nothing changed."""

import asyncio
import json

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish import layout
from sealedreg.publish.builder import (
    NamespaceSnapshot,
    PublicManifest,
    PublicTag,
    TreeBlob,
    TreeError,
    TreeState,
    build_tree,
)
from sealedreg.publish.reader import TreeReader, TreeReadError
from sealedreg.publish.sealing import PrivateRepository, SealedLayer, SealedRepository
from sealedreg.storage.unixfs import chunked, decode_directory

ORG, PARTNER = OrgKeys.generate("example.com"), OrgKeys.generate("partner.org")
D1 = "sha256:" + "1" * 64


def run(coro):
    return asyncio.run(coro)



async def _leaves(data):
    for c in chunked(data):
        yield c


def snapshot(store, keys=ORG, grantees=()) -> NamespaceSnapshot:
    blob = run(store.put_chunks(_leaves(b"ciphertext of a public layer")))
    private = run(store.put_chunks(_leaves(b"ciphertext of a private layer")))
    repo = PrivateRepository("example.com/secret", {"t": D1}, {D1: ("t/x", b"{}")},
                             {D1: SealedLayer(private.content_id, 5, "org", bytes(32))})
    return NamespaceSnapshot(
        "example.com", keys,
        blobs=[TreeBlob(D1, blob.content_id, True), TreeBlob(D1, private.content_id, False)],
        manifests=[PublicManifest("example.com/app", D1, b'{"schemaVersion":2}')],
        tags=[PublicTag("example.com/app", "1.0", D1)],
        private=[SealedRepository(repo, tuple(grantees))])


def test_tree_holds_what_the_snapshot_says(store):
    snap = snapshot(store, grantees=[PARTNER.box.public_key])
    built = run(build_tree(store, snap, None))
    # blob, sealed blob, manifest, tag, one envelope, 8 indexes (2 recipients, padded), the descriptor
    assert built.changed and built.seq == 1 and built.entries == 14
    reader = TreeReader(store.get_block, built.root, "example.com")
    assert run(reader.tag("example.com/app", "1.0")) == D1
    assert run(reader.manifest("example.com/app", D1)) == b'{"schemaVersion":2}'
    assert run(reader.descriptor(ORG.sig.verify_key))["seq"] == 1
    assert sorted(run(reader.names("sealed/blobs"))) == [snap.blobs[1].cid]
    assert run(reader.names(f"blobs/sha256/{'1' * 2}")) == ["1" * 64]
    opened = run(reader.open_private("example.com/secret", [PARTNER]))
    assert opened.payload["tags"] == {"t": D1}
    assert run(reader.open_private("example.com/secret", [OrgKeys.generate("stranger.net")])) is None


def test_unchanged_content_is_not_rebuilt_and_seq_rises_on_change(store):
    snap = snapshot(store)
    first = run(build_tree(store, snap, None))
    state = TreeState(first.seq, first.root, first.state)
    again = run(build_tree(store, snap, state))
    assert not again.changed and again.root == first.root and again.seq == 1 and again.entries is None
    snap.private[0] = SealedRepository(snap.private[0].contents, (PARTNER.box.public_key,))  # a grant
    granted = run(build_tree(store, snap, state))
    assert granted.changed and granted.seq == 2 and granted.root != first.root
    other_keys = snapshot(store, keys=OrgKeys.generate("example.com"))  # new keys: re-signed
    assert run(build_tree(store, other_keys, TreeState(granted.seq, granted.root, granted.state))).seq == 3


def test_private_repositories_need_keys(store):
    with pytest.raises(TreeError, match="no keys"):
        run(build_tree(store, snapshot(store, keys=None), None))


def test_a_namespace_without_keys_publishes_unsigned(store):
    snap = snapshot(store, keys=None)
    snap.private = []
    built = run(build_tree(store, snap, None))
    raw = run(TreeReader(store.get_block, built.root, "example.com").file(layout.DESCRIPTOR))
    doc = json.loads(raw)
    assert set(doc) == {"content", "ns", "seq", "v"} and (doc["ns"], doc["seq"]) == ("example.com", 1)
    assert set(doc["content"]) == {"blobs", "repos", "sealed"}  # binds every other top-level entry


def test_the_descriptor_binds_the_tree_it_is_in(store):
    built = run(build_tree(store, snapshot(store), None, expires=100))
    reader = TreeReader(store.get_block, built.root, "example.com")
    doc = run(reader.descriptor(ORG.sig.verify_key, now=0))
    root_links = {link.name: str(link.cid) for link in decode_directory(run(store.get_block(built.root)))}
    assert doc["content"] == {k: v for k, v in root_links.items() if k != layout.DESCRIPTOR}


def test_a_rotated_publisher_rebuilds_and_countersigns(store):
    snap = snapshot(store)
    first = run(build_tree(store, snap, None))
    rotated = ORG.rotated()
    snap.keys = rotated
    again = run(build_tree(store, snap, TreeState(first.seq, first.root, first.state)))
    assert again.changed and again.seq == 2
    reader = TreeReader(store.get_block, again.root, "example.com")
    doc = run(reader.descriptor(ORG.sig.verify_key))  # the old key still vouches for the new one
    assert doc.rotated_from == ORG.public.sig_text and doc.signer == rotated.public.sig_text
    assert run(reader.open_private("example.com/secret", [rotated])).payload["repo"] == "example.com/secret"
    assert run(reader.open_private("example.com/secret", [ORG])) is None  # sealed to the new box key only


def test_a_private_repository_needs_the_descriptor_verified_first(store):
    built = run(build_tree(store, snapshot(store), None))
    with pytest.raises(TreeReadError, match="verified"):
        run(TreeReader(store.get_block, built.root, "example.com").open_private("example.com/secret", [ORG]))


# -- the tree vectors -------------------------------------------------------------
from pathlib import Path  # noqa: E402

from nacl.public import PrivateKey  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from sealedreg.crypto.convergent import derive_key, encrypt  # noqa: E402
from sealedreg.crypto.keys import parse_tagged  # noqa: E402
from sealedreg.publish.descriptor import DescriptorError, verify_descriptor  # noqa: E402

TV = json.loads((Path(__file__).parents[2] / "vectors" / "tree-v2.json").read_text())
TV1 = json.loads((Path(__file__).parents[2] / "vectors" / "tree-v1.json").read_text())
TV_KEYS = OrgKeys(TV["namespace"], SigningKey(parse_tagged(TV["key"]["sig"], "ed25519")),
                  PrivateKey(parse_tagged(TV["key"]["box"], "x25519")))


def test_the_tree_vector_is_rebuilt_exactly(store):
    plain = bytes.fromhex(TV["blob_plain_hex"])
    blob = run(store.put_chunks(_leaves(encrypt(plain, derive_key(TV["blob_digest"])))))
    assert blob.content_id == TV["blob_cid"]
    manifest = TV["manifest"].encode()
    snap = NamespaceSnapshot(TV["namespace"], TV_KEYS, blobs=[TreeBlob(TV["blob_digest"], blob.content_id, True)],
                             manifests=[PublicManifest(TV["repository"], TV["manifest_digest"], manifest)],
                             tags=[PublicTag(TV["repository"], TV["tag"], TV["manifest_digest"])])
    built = run(build_tree(store, snap, None))
    assert built.root == TV["root"] and built.seq == TV["seq"]
    reader = TreeReader(store.get_block, built.root, TV["namespace"])

    async def paths():
        found = {}
        async for node in reader.walk():
            found.setdefault(node.path, str(node.cid))
        return found

    assert run(paths()) == TV["paths"]
    assert run(reader.file(layout.DESCRIPTOR)).decode() == TV["descriptor"]
    assert run(reader.descriptor(TV_KEYS.sig.verify_key))["seq"] == TV["seq"]


@pytest.mark.parametrize("failure", TV["descriptor_failures"], ids=[f["name"] for f in TV["descriptor_failures"]])
def test_descriptor_failure_vectors_are_refused(failure):
    with pytest.raises(DescriptorError, match=failure["error"]):
        verify_descriptor(failure["descriptor"].encode(), TV_KEYS.sig.verify_key, failure["min_seq"],
                          failure["namespace"])


def test_the_frozen_v1_descriptor_still_verifies():
    keys = OrgKeys(TV1["namespace"], SigningKey(parse_tagged(TV1["key"]["sig"], "ed25519")),
                   PrivateKey(parse_tagged(TV1["key"]["box"], "x25519")))
    doc = verify_descriptor(TV1["descriptor"].encode(), keys.sig.verify_key, namespace=TV1["namespace"])
    assert doc.version == 1 and doc.seq == TV1["seq"] and doc.signer == keys.public.sig_text


V1_STILL_REFUSED = [f for f in TV1["descriptor_failures"] if f["name"] != "another version"]
"""Version 2 is now a version readers know: tree-v2.json refuses version 3 instead."""


@pytest.mark.parametrize("failure", V1_STILL_REFUSED, ids=[f["name"] for f in V1_STILL_REFUSED])
def test_v1_descriptor_failure_vectors_are_still_refused(failure):
    with pytest.raises(DescriptorError, match=failure["error"]):
        verify_descriptor(failure["descriptor"].encode(), TV_KEYS.sig.verify_key, failure["min_seq"],
                          failure["namespace"])
