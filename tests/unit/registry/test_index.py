"""The index: what exists, which repository may see it, all or nothing."""

import asyncio
import sqlite3

import pytest

from sealedreg.registry.index import BlobRecord, Index, ManifestRecord

B1 = BlobRecord("sha256:" + "1" * 64, 10, "bafkb1", "global")
B2 = BlobRecord("sha256:" + "2" * 64, 20, "bafkb2", "org:example.com")
M = BlobRecord("sha256:" + "3" * 64, 30, "bafkm", "global")
MR = ManifestRecord("example.com/app", M.digest, "global", "application/vnd.oci.image.manifest.v1+json", 30,
                    B1.digest, "application/x-test", {"k": "v"})


def run(coro):
    return asyncio.run(coro)


def test_blobs_are_visible_only_where_linked(index):
    run(index.add_blob("example.com/app", B1, ("bafkb1",)))
    assert run(index.repo_blob("example.com/app", B1.digest)) == B1
    assert run(index.repo_blob("other/app", B1.digest)) is None
    assert run(index.blob(B1.digest, "global")) == B1 and run(index.blob(B1.digest, "org:x")) is None
    run(index.link_blob("other/app", B1))
    assert run(index.repos_with_blob(B1.digest, "global")) == ["example.com/app", "other/app"]
    assert run(index.missing_blobs("other/app", [B1.digest, B2.digest])) == [B2.digest]
    assert run(index.unlink_blob("other/app", B1.digest)) and not run(index.unlink_blob("other/app", B1.digest))


def test_discovery_never_undoes_a_delete(index):
    run(index.add_blob("a/one", B1, ("bafkb1",)))
    assert run(index.link_discovered("a/two", B1))
    assert run(index.unlink_blob("a/two", B1.digest))
    assert not run(index.link_discovered("a/two", B1))  # deleted there: stays deleted
    assert run(index.repo_blob("a/two", B1.digest)) is None
    assert run(index.link_discovered("a/three", B1))  # other repositories are unaffected
    run(index.link_blob("a/two", B1))  # a push or a named mount puts it back
    assert run(index.unlink_blob("a/two", B1.digest)) and not run(index.link_discovered("a/two", B1))


def test_manifests_tags_and_referrers(index):
    run(index.put_manifest(MR, M, ("bafkm",), ["1.0", "latest"]))
    found = run(index.manifest("example.com/app", M.digest))
    assert found == (MR, M)
    assert run(index.tag("example.com/app", "1.0")) == M.digest
    assert run(index.tags("example.com/app", None, None)) == ["1.0", "latest"]
    assert run(index.tags("example.com/app", "1.0", 1)) == ["latest"]
    assert run(index.referrers("example.com/app", B1.digest, None)) == [MR]
    assert run(index.referrers("example.com/app", B1.digest, "application/other")) == []
    assert run(index.missing_manifests("example.com/app", [M.digest, B1.digest])) == [B1.digest]
    assert run(index.delete_tag("example.com/app", "latest")) and not run(index.delete_tag("example.com/app", "x"))
    assert run(index.delete_manifest("example.com/app", M.digest))  # … and its tags with it
    assert run(index.tags("example.com/app", None, None)) == []


def test_live_blocks_follow_what_repositories_hold(index):
    run(index.add_blob("example.com/app", B1, ("bafkb1", "bafkleaf")))
    assert run(index.block_is_live("bafkleaf"))
    run(index.unlink_blob("example.com/app", B1.digest))
    assert not run(index.block_is_live("bafkleaf")) and not run(index.block_is_live("bafknever"))


def test_import_is_all_or_nothing(index):
    unbindable = [{"not": "a tag"}]  # fails inside the transaction, after the blob rows went in
    with pytest.raises(sqlite3.Error):
        run(index.import_image("example.com/app", [(B1, ("bafkb1",))], [(MR, M, (), unbindable)]))  # type: ignore
    assert not run(index.repo_exists("example.com/app")) and run(index.blob(B1.digest, "global")) is None


def test_namespace_content_grants_domains_and_state(index):
    run(index.add_blob("example.com/app", B1))
    run(index.add_blob("example.com/secret", B2))
    run(index.add_blob("example.comx/app", B2))  # a namespace that only shares a prefix
    run(index.put_manifest(MR, M, (), ["1.0"]))
    blobs, manifests, tags = run(index.namespace_content("example.com"))
    assert blobs == [("example.com/app", B1), ("example.com/secret", B2)]
    assert manifests == [("example.com/app", M)] and tags == [("example.com/app", "1.0", M.digest)]
    run(index.grant("example.com/secret", "kid1", "x25519:a"))
    run(index.grant("example.com/secret", "kid0", "x25519:b"))
    assert run(index.grants("example.com/secret")) == {"kid0": "x25519:b", "kid1": "x25519:a"}
    assert run(index.revoke("example.com/secret", "kid0")) and not run(index.revoke("example.com/secret", "kid0"))
    assert run(index.repo_domain("example.com/secret")) is None
    run(index.set_repo_domain("example.com/secret", "org:example.com~" + "a" * 32))
    assert run(index.repo_domain("example.com/secret")) == "org:example.com~" + "a" * 32
    assert run(index.namespace_state("example.com")) is None
    run(index.set_namespace_state("example.com", 2, "bafyroot", "abc"))
    assert run(index.namespace_state("example.com")) == (2, "bafyroot", "abc", None)


def test_repositories_are_listed_once_and_paged(index):
    for repo in ("b/x", "a/x", "c/x"):
        run(index.add_blob(repo, B1))
    run(index.put_manifest(ManifestRecord("a/x", M.digest, "global", "t", 30, None, None, None), M, (), []))
    assert run(index.repositories(None, None)) == ["a/x", "b/x", "c/x"]
    assert run(index.repositories("a/x", 1)) == ["b/x"]
    assert run(index.repo_exists("b/x")) and not run(index.repo_exists("d/x"))


def test_readonly_index_reads_beside_a_writer(tmp_path):
    writer = Index(tmp_path / "index.sqlite")
    run(writer.add_blob("a/x", B1))
    reader = Index(tmp_path / "index.sqlite", readonly=True)
    try:
        assert run(reader.repo_blob("a/x", B1.digest)) == B1
        with pytest.raises(sqlite3.OperationalError):
            run(reader.add_blob("a/y", B2))
    finally:
        reader.close()
        writer.close()
