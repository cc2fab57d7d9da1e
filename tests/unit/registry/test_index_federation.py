"""The index's publishing and federation state: trees built (and their own
blocks, live until they expire), IPNS records, and the highest seq seen of
each foreign namespace (never lowered)."""

import asyncio
import sqlite3

from sealedreg.registry.index import BlobRecord, Index

NOW = 1_900_000_000
K = "ed25519:key-a"


def run(coro):
    return asyncio.run(coro)


def test_namespace_state_with_expiry_and_blocks(index):
    assert run(index.namespace_state("acme.test")) is None
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "state1", NOW + 100, ("bafyb1", "bafyb2")))
    assert run(index.namespace_state("acme.test")) == (1, "bafyroot1", "state1", NOW + 100)
    run(index.set_namespace_state("acme.test", 2, "bafyroot2", "state2"))
    assert run(index.namespace_state("acme.test")) == (2, "bafyroot2", "state2", None)


def test_published_roots(index):
    assert run(index.published_roots("acme.test")) == []
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", NOW))
    run(index.set_namespace_state("acme.test", 2, "bafyroot2", "s2", NOW))
    run(index.set_namespace_state("zeta.test", 1, "bafyz", "s", NOW))
    run(index.set_namespace_state("beta.test", 1, "bafyb", "s", NOW))
    assert sorted(run(index.published_roots("acme.test"))) == ["bafyroot1", "bafyroot2"]
    assert run(index.published_roots("zeta.test")) == ["bafyz"]
    assert run(index.published_roots("other.test")) == []


def test_the_same_root_twice_is_one_tree(index):
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", NOW, ("bafyb1",)))
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", NOW + 5, ("bafyb1", "bafyb2")))
    assert run(index.published_roots("acme.test")) == ["bafyroot1"]
    assert run(index.block_is_live("bafyb2", now=NOW))


def test_the_current_tree_blocks_are_live_even_expired(index):
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", NOW - 10, ("bafyroot1", "bafydir")))
    assert run(index.block_is_live("bafyroot1", now=NOW))
    assert run(index.block_is_live("bafydir", now=NOW))
    assert not run(index.block_is_live("bafyunknown", now=NOW))


def test_an_older_tree_is_live_until_it_expires(index):
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", NOW + 100, ("bafyold", "bafyshared")))
    run(index.set_namespace_state("acme.test", 2, "bafyroot2", "s2", NOW + 1000, ("bafynew", "bafyshared")))
    assert run(index.block_is_live("bafyold", now=NOW))  # not expired yet
    assert run(index.block_is_live("bafyold", now=NOW + 99))
    assert not run(index.block_is_live("bafyold", now=NOW + 100))  # expired at its time
    assert not run(index.block_is_live("bafyold", now=NOW + 5000))
    assert run(index.block_is_live("bafyshared", now=NOW + 5000))  # still in the current tree
    assert run(index.block_is_live("bafynew", now=NOW + 5000))  # current: live past its expiry


def test_an_older_tree_without_expiry_is_not_live(index):
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", None, ("bafyold",)))
    assert run(index.block_is_live("bafyold", now=NOW))  # current
    run(index.set_namespace_state("acme.test", 2, "bafyroot2", "s2", None, ("bafynew",)))
    assert not run(index.block_is_live("bafyold", now=NOW))
    assert run(index.block_is_live("bafynew", now=NOW))


def test_another_namespaces_current_tree_keeps_a_shared_block(index):
    run(index.set_namespace_state("a.test", 1, "bafya1", "s", NOW - 1, ("bafyshared",)))
    run(index.set_namespace_state("a.test", 2, "bafya2", "s", NOW - 1, ()))
    assert not run(index.block_is_live("bafyshared", now=NOW))
    run(index.set_namespace_state("b.test", 1, "bafyb1", "s", NOW - 1, ("bafyshared",)))
    assert run(index.block_is_live("bafyshared", now=NOW))


def test_tree_blocks_and_blob_blocks_are_both_live(index):
    blob = BlobRecord("sha256:" + "1" * 64, 10, "bafkblob", "global")
    run(index.add_blob("acme.test/app", blob, ("bafkblob", "bafkleaf")))
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", NOW - 10, ("bafytree",)))
    run(index.set_namespace_state("acme.test", 2, "bafyroot2", "s2", NOW + 10, ()))
    assert run(index.block_is_live("bafkleaf", now=NOW))
    assert not run(index.block_is_live("bafytree", now=NOW))


def test_block_is_live_defaults_to_the_clock(index):
    run(index.set_namespace_state("acme.test", 1, "bafyroot1", "s1", 1, ("bafyancient",)))
    run(index.set_namespace_state("acme.test", 2, "bafyroot2", "s2", 4_000_000_000, ("bafyfuture",)))
    run(index.set_namespace_state("acme.test", 3, "bafyroot3", "s3", 4_000_000_000, ()))
    assert not run(index.block_is_live("bafyancient"))
    assert run(index.block_is_live("bafyfuture"))


def test_seen_seq_never_lowers(index):
    assert run(index.seen_seq("acme.test", K)) == 0
    run(index.see_seq("acme.test", K, 5))
    assert run(index.seen_seq("acme.test", K)) == 5
    run(index.see_seq("acme.test", K, 3))
    assert run(index.seen_seq("acme.test", K)) == 5
    run(index.see_seq("acme.test", K, 5))
    run(index.see_seq("acme.test", K, 9))
    assert run(index.seen_seq("acme.test", K)) == 9
    assert run(index.seen_seq("other.test", K)) == 0
    run(index.see_seq("other.test", K, 1))
    assert run(index.seen_seq("acme.test", K)) == 9 and run(index.seen_seq("other.test", K)) == 1


def test_seen_seq_is_per_signing_key(index):
    # a forged key's huge seq must not lock the real key's trees out
    run(index.see_seq("acme.test", "ed25519:forged", 2**53))
    assert run(index.seen_seq("acme.test", K)) == 0
    run(index.see_seq("acme.test", K, 3))
    assert run(index.seen_seq("acme.test", K)) == 3 and run(index.seen_seq("acme.test", "ed25519:forged")) == 2**53


def test_seen_seq_survives_reopening(tmp_path):
    path = tmp_path / "index.sqlite"
    first = Index(path)
    run(first.see_seq("acme.test", K, 42))
    first.close()
    again = Index(path)
    try:
        assert run(again.seen_seq("acme.test", K)) == 42
        run(again.see_seq("acme.test", K, 1))
        assert run(again.seen_seq("acme.test", K)) == 42
    finally:
        again.close()


def test_ipns_record_round_trip(index):
    assert run(index.ipns_record("k51name")) is None
    run(index.set_ipns_record("acme.test", "k51name", b"\x00record 1\xff"))
    assert run(index.ipns_record("k51name")) == b"\x00record 1\xff"
    run(index.set_ipns_record("acme.test", "k51name", b"record 2"))
    assert run(index.ipns_record("k51name")) == b"record 2"
    assert isinstance(run(index.ipns_record("k51name")), bytes)


def test_a_namespaces_new_key_replaces_its_old_record(index):
    run(index.set_ipns_record("acme.test", "k51old", b"old"))
    run(index.set_ipns_record("acme.test", "k51new", b"new"))
    assert run(index.ipns_record("k51old")) is None
    assert run(index.ipns_record("k51new")) == b"new"


def test_ipns_records_of_two_namespaces(index):
    run(index.set_ipns_record("a.test", "k51a", b"a"))
    run(index.set_ipns_record("b.test", "k51b", b"b"))
    assert run(index.ipns_record("k51a")) == b"a" and run(index.ipns_record("k51b")) == b"b"


def test_an_old_index_gains_the_expires_column(tmp_path):
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE namespaces (namespace TEXT PRIMARY KEY, seq INTEGER NOT NULL, root TEXT NOT NULL, "
               "content_root TEXT NOT NULL)")
    db.execute("INSERT INTO namespaces VALUES ('acme.test', 3, 'bafyold', 'state')")
    db.commit()
    db.close()
    idx = Index(path)
    try:
        assert run(idx.namespace_state("acme.test")) == (3, "bafyold", "state", None)
        run(idx.set_namespace_state("acme.test", 4, "bafynew", "state2", NOW))
        assert run(idx.namespace_state("acme.test")) == (4, "bafynew", "state2", NOW)
    finally:
        idx.close()
    Index(path).close()  # a second open does not migrate twice


def test_a_readonly_index_reads_federation_state(tmp_path):
    path = tmp_path / "index.sqlite"
    writer = Index(path)
    try:
        run(writer.see_seq("acme.test", K, 7))
        run(writer.set_ipns_record("acme.test", "k51x", b"rec"))
        reader = Index(path, readonly=True)
        try:
            assert run(reader.seen_seq("acme.test", K)) == 7 and run(reader.ipns_record("k51x")) == b"rec"
        finally:
            reader.close()
    finally:
        writer.close()
