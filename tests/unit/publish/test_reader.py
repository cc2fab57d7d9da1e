"""Reading a tree: only what is there, only files of a sane size, only what the
trusted key signed."""

import asyncio

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.builder import NamespaceSnapshot, PublicTag, TreeState, build_tree
from sealedreg.publish.descriptor import DescriptorError
from sealedreg.publish.reader import TreeReader, TreeReadError, TreeTooLarge, read_budget

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


# -- what one request may read (`max_tree_size`) ------------------------------------------
def measured(reader: TreeReader, read) -> int:
    """Tree bytes `read(reader)` reads (a budget that only counts)."""
    with read_budget(0) as budget:
        run(read(reader))
    return budget.used


def test_a_read_just_within_its_budget_and_one_byte_over(tree):
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")
    big = "repos/example.com/app/tags/big"
    used = measured(reader, lambda r: r.file(big))
    assert used > len(D1 * 40000)  # the file, its root node and the directories above it
    with read_budget(used) as budget:
        assert run(reader.file(big)) == (D1 * 40000).encode()
    assert budget.used == used
    with read_budget(used - 1), pytest.raises(TreeTooLarge) as e:
        run(reader.file(big))
    assert e.value.limit == used - 1 and e.value.namespace == "example.com"
    assert str(e.value) == (f"example.com: this request would read more than {used - 1} bytes of the namespace's "
                            f"published tree (max_tree_size), at /{big}")
    assert not isinstance(e.value, TreeReadError)  # never mistaken for "not in the tree"


def test_remembered_blocks_count_too(tree):
    """What a request may read does not depend on what earlier requests left in the reader."""
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")
    first = measured(reader, lambda r: r.names("repos/example.com/app/tags"))
    assert measured(reader, lambda r: r.names("repos/example.com/app/tags")) == first


def test_a_file_larger_than_what_is_left_is_refused_before_its_leaves_are_fetched(tree):
    store, built = tree
    asked = []

    async def get(cid):
        asked.append(cid)
        return await store.get_block(cid)

    reader = TreeReader(get, built.root, "example.com")
    big = "repos/example.com/app/tags/big"
    path_only = measured(reader, lambda r: r.cid(big))
    with read_budget(path_only + len(D1 * 40000) // 2), pytest.raises(TreeTooLarge, match="tags/big"):
        asked.clear()
        run(reader.file(big))
    assert asked == [str(run(reader.cid(big)))]  # the file's root node only: not one of its leaves


def test_a_directory_of_many_entries_is_refused_past_the_budget(store):
    """A publisher's tags directory as large as it likes: listing it costs its size."""
    snap = NamespaceSnapshot("example.com", ORG, tags=[PublicTag("example.com/app", f"t{i:05}", D1)
                                                       for i in range(3000)])
    built = run(build_tree(store, snap, None))
    reader = TreeReader(store.get_block, built.root, "example.com")
    used = measured(reader, lambda r: r.names("repos/example.com/app/tags"))
    assert used > 3000 * 40
    with read_budget(used):
        assert len(run(reader.names("repos/example.com/app/tags"))) == 3000
    with read_budget(used - 1), pytest.raises(TreeTooLarge, match="/repos/example.com/app/tags$"):
        run(reader.names("repos/example.com/app/tags"))
    with read_budget(used - 1):
        assert run(reader.file("sealedreg.json"))  # what does not go through it still reads


def test_a_request_keeps_one_budget_however_its_steps_nest(tree):
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")
    with read_budget(1 << 30) as outer:
        with read_budget(1) as inner:
            assert inner is outer
            run(reader.file("repos/example.com/app/tags/1.0"))
        assert outer.used > 0
    once = measured(reader, lambda r: r.file("repos/example.com/app/tags/1.0"))
    assert outer.used == once


def test_concurrent_requests_on_one_reader_charge_their_own_budgets(tree):
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")
    alone = measured(reader, lambda r: r.file("repos/example.com/app/tags/big"))

    async def request(limit: int):
        with read_budget(limit) as budget:
            await reader.file("repos/example.com/app/tags/big")
        return budget.used

    async def together():
        return await asyncio.gather(request(alone), request(alone), request(alone - 1), return_exceptions=True)

    first, second, third = run(together())
    assert first == second == alone and isinstance(third, TreeTooLarge)


def test_without_a_budget_reads_are_not_bounded(tree):
    store, built = tree
    reader = TreeReader(store.get_block, built.root, "example.com")
    assert run(reader.file("repos/example.com/app/tags/big")) == (D1 * 40000).encode()
