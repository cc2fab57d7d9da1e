"""The tree's paths: one module builds them, and a private name never shows."""

from sealedreg.publish import layout

DIGEST = "sha256:" + "ab" * 32


def test_paths():
    assert layout.blob_path(DIGEST) == "blobs/sha256/ab/" + "ab" * 32
    assert layout.sealed_blob_path("bafkx") == "sealed/blobs/bafkx"
    assert layout.tag_path("example.com/app", "1.0") == "repos/example.com/app/tags/1.0"
    assert layout.manifest_path("example.com/app", DIGEST) == f"repos/example.com/app/manifests/{DIGEST}"
    assert layout.DESCRIPTOR == "sealedreg.json"


def test_v2_envelope_names_are_random_and_index_paths_are_given():
    a, b = layout.new_envelope_id(), layout.new_envelope_id()
    assert len(a) == 64 and a != b and int(a, 16) >= 0
    assert layout.envelope_path(a) == f"sealed/{a}.json"
    assert layout.index_path("ab" * 32) == "sealed/index/" + "ab" * 32


def test_v1_envelope_names_are_the_unkeyed_hash_v1_readers_compute():
    a = layout.v1_envelope_id("example.com", "example.com/a")
    assert len(a) == 64 and a != layout.v1_envelope_id("example.com", "example.com/b")
    assert a != layout.v1_envelope_id("example.org", "example.com/a")
