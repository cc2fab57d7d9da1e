"""The generated OCI layouts are valid: digests match contents, diff_ids match the
uncompressed tars, generation is deterministic and streaming, and skopeo reads them."""

from __future__ import annotations

import gzip
import hashlib
import json
import tarfile
import time
import tracemalloc
from pathlib import Path

import pytest

from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import (MT_OCI_INDEX, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_TAR, MT_OCI_MANIFEST,
                                     REF_NAME, blob_path, diff_id_of, read_layer_members, sha256_file,
                                     write_image, write_index)


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def assert_layout_consistent(layout: Path) -> None:
    """Every blob is named by its digest and every descriptor's size/digest matches its blob."""
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    for p in (layout / "blobs" / "sha256").iterdir():
        assert not p.name.startswith("."), f"leftover temp file {p}"
        assert sha256_file(p) == "sha256:" + p.name

    def check(desc: dict) -> None:
        p = blob_path(layout, desc["digest"])
        assert p.is_file(), desc
        assert p.stat().st_size == desc["size"], desc
        if desc["mediaType"] in (MT_OCI_MANIFEST, MT_OCI_INDEX):
            doc = json.loads(p.read_bytes())
            assert doc["mediaType"] == desc["mediaType"]
            for child in doc.get("manifests", []):
                check(child)
            if "config" in doc:
                check(doc["config"])
                for layer in doc["layers"]:
                    check(layer)

    for desc in json.loads((layout / "index.json").read_text())["manifests"]:
        check(desc)


def test_image_digests_and_diff_ids(tmp_path: Path):
    info = write_image(tmp_path / "l", layers=[0, 10, 5000, 300_000], tag="1.0", seed=3, files_per_layer=3)
    layout = tmp_path / "l"
    assert_layout_consistent(layout)

    assert sha(info.manifest_bytes) == info.manifest_digest
    assert blob_path(layout, info.manifest_digest).read_bytes() == info.manifest_bytes
    assert sha(info.config_bytes) == info.config_digest
    manifest = info.manifest
    assert manifest["mediaType"] == MT_OCI_MANIFEST and manifest["schemaVersion"] == 2
    assert manifest["config"]["digest"] == info.config_digest
    assert [l["digest"] for l in manifest["layers"]] == info.layer_digests
    assert [l["mediaType"] for l in manifest["layers"]] == [MT_OCI_LAYER_GZIP] * 4

    config = json.loads(info.config_bytes)
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert config["rootfs"] == {"type": "layers", "diff_ids": info.diff_ids}
    assert len(config["history"]) == 4

    for i, (digest, size, diff_id) in enumerate(zip(info.layer_digests, info.layer_sizes, info.diff_ids)):
        p = blob_path(layout, digest)
        assert p.stat().st_size == size
        assert p.read_bytes()[:2] == b"\x1f\x8b"
        assert diff_id_of(p) == diff_id
        assert sha(gzip.decompress(p.read_bytes())) == diff_id
        members = read_layer_members(p)
        assert sorted(members) == [f"layer{i}/file{j}.bin" for j in range(3)]
        assert sum(len(v) for v in members.values()) == [0, 10, 5000, 300_000][i]

    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"] == [{"mediaType": MT_OCI_MANIFEST, "digest": info.manifest_digest,
                                   "size": info.manifest_size, "annotations": {REF_NAME: "1.0"}}]


def test_deterministic_by_seed(tmp_path: Path):
    a = write_image(tmp_path / "a", layers=[1000, 2000], seed=1)
    b = write_image(tmp_path / "b", layers=[1000, 2000], seed=1)
    c = write_image(tmp_path / "c", layers=[1000, 2000], seed=2)
    assert a.manifest_bytes == b.manifest_bytes
    assert a.layer_digests == b.layer_digests
    assert not set(a.layer_digests) & set(c.layer_digests)
    # Layers differ from each other within one image too.
    assert len(set(a.layer_digests)) == 2


def test_uncompressed_layers(tmp_path: Path):
    info = write_image(tmp_path / "l", layers=[4096, 1], gzip=False)
    assert_layout_consistent(tmp_path / "l")
    assert info.layer_media_type == MT_OCI_LAYER_TAR
    assert [l["mediaType"] for l in info.manifest["layers"]] == [MT_OCI_LAYER_TAR] * 2
    # The blob is the tar itself, so its digest is its diff_id.
    assert info.layer_digests == info.diff_ids
    with tarfile.open(blob_path(info.path, info.layer_digests[0])) as tar:
        assert tar.getnames() == ["layer0", "layer0/file0.bin"]


def test_stored_gzip_is_valid_gzip(tmp_path: Path):
    info = write_image(tmp_path / "l", layers=[200_000], compresslevel=0)
    blob = blob_path(info.path, info.layer_digests[0]).read_bytes()
    assert blob[:2] == b"\x1f\x8b"
    assert sha(gzip.decompress(blob)) == info.diff_ids[0]
    assert len(blob) > 200_000  # stored, not compressed


@pytest.mark.parametrize("gz,level,layer_has_marker", [(False, 1, True), (True, 0, True), (True, 1, False)])
def test_marker(tmp_path: Path, gz: bool, level: int, layer_has_marker: bool):
    marker = "SEALEDREG-MARKER-7f3a9c"
    info = write_image(tmp_path / "l", layers=[50_000, 1000], gzip=gz, compresslevel=level, marker=marker)
    blobs_with_marker = {"sha256:" + p.name for p in (tmp_path / "l" / "blobs" / "sha256").iterdir()
                         if marker.encode() in p.read_bytes()}
    assert set(info.marker_blobs) == blobs_with_marker
    assert info.config_digest in info.marker_blobs
    assert (info.layer_digests[0] in info.marker_blobs) is layer_has_marker
    assert info.layer_digests[1] not in info.marker_blobs
    members = read_layer_members(blob_path(info.path, info.layer_digests[0]))
    assert marker.encode() in members["layer0/marker.txt"]
    assert members["layer0/file0.bin"].startswith(marker.encode())


def test_several_tags_in_one_layout(tmp_path: Path):
    layout = tmp_path / "l"
    a = write_image(layout, layers=[100], tag="a", seed=1)
    b = write_image(layout, layers=[100], tag="b", seed=2)
    a2 = write_image(layout, layers=[200], tag="a", seed=3)
    refs = {m["annotations"][REF_NAME]: m["digest"]
            for m in json.loads((layout / "index.json").read_text())["manifests"]}
    assert refs == {"a": a2.manifest_digest, "b": b.manifest_digest}
    assert a.manifest_digest != a2.manifest_digest
    assert_layout_consistent(layout)


def test_index(tmp_path: Path):
    idx = write_index(tmp_path / "l", layers=[1000, 2000], tag="multi", seed=5)
    assert_layout_consistent(tmp_path / "l")
    assert sha(idx.index_bytes) == idx.index_digest
    doc = idx.index
    assert doc["mediaType"] == MT_OCI_INDEX
    assert [m["platform"] for m in doc["manifests"]] == [
        {"architecture": "amd64", "os": "linux"}, {"architecture": "arm64", "os": "linux", "variant": "v8"}]
    assert [m["digest"] for m in doc["manifests"]] == [i.manifest_digest for i in idx.images]
    for img in idx.images:
        config = json.loads(img.config_bytes)
        assert config["architecture"] == img.architecture
        for d, diff_id in zip(img.layer_digests, img.diff_ids):
            assert diff_id_of(blob_path(idx.path, d)) == diff_id
    assert not set(idx.images[0].layer_digests) & set(idx.images[1].layer_digests)
    top = json.loads((tmp_path / "l" / "index.json").read_text())["manifests"]
    assert top == [{"mediaType": MT_OCI_INDEX, "digest": idx.index_digest, "size": len(idx.index_bytes),
                    "annotations": {REF_NAME: "multi"}}]


def test_big_layer_is_streamed(tmp_path: Path):
    size = 48 << 20
    tracemalloc.start()
    try:
        t0 = time.monotonic()
        info = write_image(tmp_path / "l", layers=[size], gzip=False)
        elapsed = time.monotonic() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 << 20, f"peak Python allocation {peak} bytes for a {size}-byte layer"
    assert info.layer_sizes[0] > size
    assert sha256_file(blob_path(info.path, info.layer_digests[0])) == info.layer_digests[0]
    assert elapsed < 30, f"writing a {size >> 20} MiB layer took {elapsed:.1f}s"


@pytest.fixture
def sb(tmp_path: Path):
    with ClientSandbox(tmp_path / "clients") as sandbox:
        yield sandbox


def test_skopeo_reads_image(tmp_path: Path, sb: ClientSandbox):
    info = write_image(tmp_path / "l", layers=[1000, 70_000], tag="1.0", seed=4, marker="m")
    ref = f"oci:{info.path}:1.0"
    assert sb.skopeo("inspect", "--raw", ref, debug=False).stdout.encode() == info.manifest_bytes
    assert sb.skopeo("inspect", "--config", "--raw", ref, debug=False).stdout.encode() == info.config_bytes
    out = json.loads(sb.skopeo("inspect", ref, debug=False).stdout)
    assert out["Digest"] == info.manifest_digest
    assert out["Layers"] == info.layer_digests
    assert (out["Architecture"], out["Os"]) == ("amd64", "linux")
    assert out["Labels"]["org.example.sealedreg-test.marker"] == "m"
    # A copy makes skopeo read and verify every blob against its digest.
    sb.skopeo("copy", ref, f"dir:{tmp_path / 'dir'}")
    assert (tmp_path / "dir" / "manifest.json").read_bytes() == info.manifest_bytes
    for d in info.all_blob_digests:
        assert sha256_file(tmp_path / "dir" / d.split(":")[1]) == d


def test_skopeo_reads_index(tmp_path: Path, sb: ClientSandbox):
    idx = write_index(tmp_path / "l", layers=[500], tag="multi", seed=6)
    ref = f"oci:{idx.path}:multi"
    assert sb.skopeo("inspect", "--raw", ref, debug=False).stdout.encode() == idx.index_bytes
    for img in idx.images:
        flags = ["--override-arch", img.architecture] + (["--override-variant", img.variant] if img.variant else [])
        out = json.loads(sb.skopeo("inspect", ref, global_args=flags, debug=False).stdout)
        assert out["Digest"] == idx.index_digest  # skopeo reports the digest of the top-level index
        assert out["Layers"] == img.layer_digests
        assert out["Architecture"] == img.architecture
    sb.skopeo("copy", "--all", ref, f"oci:{tmp_path / 'copy'}:multi")
    top = json.loads((tmp_path / "copy" / "index.json").read_text())["manifests"]
    assert [m["digest"] for m in top] == [idx.index_digest]
