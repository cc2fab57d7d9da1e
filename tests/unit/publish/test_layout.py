"""The tree's paths: one module builds them, and a private name never shows."""

from sealedreg.publish import layout

DIGEST = "sha256:" + "ab" * 32


def test_paths():
    assert layout.blob_path(DIGEST) == "blobs/sha256/ab/" + "ab" * 32
    assert layout.sealed_blob_path("bafkx") == "sealed/blobs/bafkx"
    assert layout.tag_path("example.com/app", "1.0") == "repos/example.com/app/tags/1.0"
    assert layout.manifest_path("example.com/app", DIGEST) == f"repos/example.com/app/manifests/{DIGEST}"
    assert layout.DESCRIPTOR == "sealedreg.json"


def test_envelope_names_hide_the_repository():
    a = layout.envelope_id("example.com", "example.com/a")
    assert len(a) == 64 and a != layout.envelope_id("example.com", "example.com/b")
    assert a != layout.envelope_id("example.org", "example.com/a")
    path = layout.envelope_path("example.com", "example.com/a")
    assert path == f"sealed/{a}.json" and "example" not in path
