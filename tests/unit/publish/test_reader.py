"""Reading a tree: only what is there, only files of a sane size, only what the
trusted key signed."""

import asyncio

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.builder import NamespaceSnapshot, PublicTag, TreeState, build_tree
from sealedreg.publish.descriptor import DescriptorError
from sealedreg.publish.reader import TreeReader, TreeReadError

ORG = OrgKeys.generate("example.com")
D1 = "sha256:" + "1" * 64


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def tree(store):
    snap = NamespaceSnapshot("example.com", ORG, tags=[PublicTag("example.com/app", "1.0", D1),
                                                       PublicTag("example.com/app", "big", D1 * 40000)])
    built = run(build_tree(store, snap, None))
    return store, built


def test_walk_visits_every_block_once_with_its_path(tree):
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")

    async def walk():
        return [(n.path, str(n.cid)) async for n in reader.walk()]

    nodes = run(walk())
    assert nodes[0] == ("", built.root)
    paths = {p for p, _ in nodes}
    assert {"/sealedreg.json", "/repos/example.com/app/tags/1.0", "/repos/example.com/app/tags/big"} <= paths
    assert len([p for p, _ in nodes if p == "/repos/example.com/app/tags/big"]) > 1  # a multi-block file: its leaves


def test_files_are_assembled_and_bounded(tree):
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")
    assert run(reader.file("repos/example.com/app/tags/big")) == (D1 * 40000).encode()
    with pytest.raises(TreeReadError, match="larger than"):
        run(reader.file("repos/example.com/app/tags/big", limit=1 << 20))


@pytest.mark.parametrize("path", ["repos/example.com/none", "sealedreg.json/below-a-file", "nothing"])
def test_missing_paths(tree, path):
    store, built = tree
    with pytest.raises(TreeReadError):
        run(TreeReader(store.get_block, built.root, "example.com").file(path))


def test_trust_comes_from_the_callers_key(tree):
    store, built = tree
    with pytest.raises(DescriptorError):
        run(TreeReader(store.get_block, built.root, "example.com").descriptor(OrgKeys.generate("x").sig.verify_key))
    with pytest.raises(DescriptorError, match="already seen"):
        run(TreeReader(store.get_block, built.root, "example.com").descriptor(ORG.sig.verify_key, min_seq=2))
    with pytest.raises(DescriptorError, match="not 'other.org'"):
        run(TreeReader(store.get_block, built.root, "other.org").descriptor(ORG.sig.verify_key))
    reader = TreeReader(store.get_block, built.root, "example.com")
    run(reader.descriptor(ORG.sig.verify_key))
    assert run(reader.open_private("example.com/app", [ORG])) is None  # not private here: no envelope
    with pytest.raises(TreeReadError):
        run(reader.envelope("example.com/app", ORG))


def test_an_unchanged_rebuild_reads_the_same(tree):
    store, built = tree
    snap = NamespaceSnapshot("example.com", ORG, tags=[PublicTag("example.com/app", "1.0", D1),
                                                       PublicTag("example.com/app", "big", D1 * 40000)])
    again = run(build_tree(store, snap, TreeState(built.seq, built.root, built.state)))
    assert again.root == built.root
