"""Round trips with real OCI clients (skopeo, podman, oras-py) against the `registry` fixture.

Images are generated (tests/helpers/ocilayout.py); the clients run hermetically
(tests/helpers/clients.py: temp config/storage, private mount namespace as root), talk
plain HTTP to the loopback registry, and every digest that should survive a round trip
is checked byte for byte. A missing client fails the test; nothing is skipped.

How the clients talk to a registry (as seen against the reference registry):
* skopeo/podman (containers/image 5.23): GET /v2/ over https first, then http; HEAD the
  blob, POST /blobs/uploads/ (empty), one PATCH with the whole blob (Content-Length when
  the size is known, Transfer-Encoding: chunked when it re-compresses), PUT ?digest= with
  an empty body; cross-repo mount via POST ?mount=&from= when its blob-info cache knows
  another repo holding the blob; manifests fetched with several separate Accept headers.
* oras-py: HEAD, then POST + monolithic PUT ?digest= with the body; or with do_chunked,
  POST + PATCHes with `Content-Range: start-end` + PUT ?digest= with an empty body.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.backends import BACKENDS, registry_on
from tests.helpers.clients import ClientSandbox, debug_requests
from tests.helpers.ocilayout import (MT_OCI_MANIFEST, REF_NAME, blob_path,
                                     sha256_file, write_image, write_index)

pytestmark = pytest.mark.integration

MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path):
    """Every client test runs against both storage backends (Kubo: a real daemon)."""
    with registry_on(request.param, tmp_path) as (srv, _):
        yield srv


@pytest.fixture
def sandbox(tmp_path: Path, registry) -> Iterator[ClientSandbox]:
    with ClientSandbox(tmp_path / "clients", registry.address) as sb:
        yield sb


def assert_dir_copy(out: Path, manifest_bytes: bytes, blob_digests: list[str], source_layout: Path | None = None
                    ) -> None:
    """A `skopeo copy ... dir:OUT` holds exactly these manifest bytes and blobs (named by hex digest)."""
    assert (out / "manifest.json").read_bytes() == manifest_bytes
    for d in blob_digests:
        p = out / d.split(":", 1)[1]
        assert p.is_file(), f"blob {d} missing from {out}"
        assert sha256_file(p) == d
        if source_layout is not None:
            assert p.stat().st_size == blob_path(source_layout, d).stat().st_size


def assert_oci_copy(out: Path, tag: str, top_digest: str, blob_digests: list[str]) -> None:
    top = json.loads((out / "index.json").read_text())["manifests"]
    assert [(m["digest"], m["annotations"][REF_NAME]) for m in top] == [(top_digest, tag)]
    for d in [top_digest, *blob_digests]:
        p = blob_path(out, d)
        assert p.is_file(), f"blob {d} missing from {out}"
        assert sha256_file(p) == d


def uploads(stderr: str, repo: str) -> list[str]:
    """Digests that skopeo finished uploading (PUT ...?digest=) into `repo`."""
    out = []
    for r in debug_requests(stderr):
        if r.method == "PUT" and f"/v2/{repo}/blobs/uploads/" in r.path and "digest=" in r.path:
            out.append(r.path.split("digest=", 1)[1].split("&", 1)[0].replace("%3A", ":").replace("%3a", ":"))
    return out


# --------------------------------------------------------------------------- skopeo

def test_skopeo_round_trip(tmp_path: Path, registry, sandbox: ClientSandbox):
    info = write_image(tmp_path / "src", layers=[1024, 300_000, 3 << 20], tag="1.0", seed=11, files_per_layer=2)
    addr = registry.address
    ref = f"docker://{addr}/example.com/app:1.0"
    digestfile = tmp_path / "pushed.digest"

    push = sandbox.skopeo("copy", "--dest-tls-verify=false", "--digestfile", digestfile, f"oci:{info.path}:1.0", ref)
    assert digestfile.read_text().strip() == info.manifest_digest
    assert set(uploads(push.stderr, "example.com/app")) == set(info.all_blob_digests)

    assert sandbox.skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode() == info.manifest_bytes
    assert (sandbox.skopeo("inspect", "--tls-verify=false", "--config", "--raw", ref).stdout.encode()
            == info.config_bytes)
    inspected = json.loads(sandbox.skopeo("inspect", "--tls-verify=false", ref).stdout)
    assert inspected["Digest"] == info.manifest_digest
    assert inspected["Layers"] == info.layer_digests
    tags = json.loads(sandbox.skopeo("list-tags", "--tls-verify=false", f"docker://{addr}/example.com/app").stdout)
    assert tags["Tags"] == ["1.0"]

    # Back to a dir: and an oci: layout: every byte identical.
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", info.manifest_bytes, info.all_blob_digests, info.path)
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'oci'}:1.0")
    assert_oci_copy(tmp_path / "oci", "1.0", info.manifest_digest, info.all_blob_digests)
    for d in info.all_blob_digests:
        assert blob_path(tmp_path / "oci", d).read_bytes() == blob_path(info.path, d).read_bytes()

    # By digest instead of tag.
    sandbox.skopeo("copy", "--src-tls-verify=false", f"docker://{addr}/example.com/app@{info.manifest_digest}",
                   f"dir:{tmp_path / 'bydigest'}")
    assert_dir_copy(tmp_path / "bydigest", info.manifest_bytes, info.all_blob_digests)

    # Pushing the same image again uploads nothing: every blob HEAD answers 200.
    again = sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", ref)
    reqs = debug_requests(again.stderr)
    assert not [r for r in reqs if r.method in ("POST", "PATCH")], "second push re-uploaded blobs"
    assert [r.path for r in reqs if r.method == "PUT"] == ["/v2/example.com/app/manifests/1.0"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_skopeo_cross_repo_mount(tmp_path: Path, backend: str):
    """skopeo's blob-info cache remembers that the layers are in example.com/app, so copying into
    another repository of the same registry mounts them (POST ?mount=&from=) instead of uploading.
    (With `auto_mount` on, its HEAD would find them first and it would not need to mount.)"""
    with registry_on(backend, tmp_path, env={"SEALEDREG_AUTO_MOUNT": "false"}) as (registry, _):
        with ClientSandbox(tmp_path / "clients", registry.address) as sandbox:
            _cross_repo_mount(tmp_path, registry.address, sandbox)


def _cross_repo_mount(tmp_path: Path, addr: str, sandbox: ClientSandbox) -> None:
    info = write_image(tmp_path / "src", layers=[2048, 200_000], tag="1.0", seed=12)
    src = f"docker://{addr}/example.com/app:1.0"
    sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", src)

    copy = sandbox.skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", src,
                          f"docker://{addr}/example.com/mirror:2.0")
    reqs = debug_requests(copy.stderr)
    for d in info.layer_digests:
        mounts = [r for r in reqs if r.method == "POST" and "/v2/example.com/mirror/blobs/uploads/" in r.path
                  and f"mount={quote(d, safe='')}" in r.path]
        assert mounts, f"skopeo did not try to mount {d}"
        assert f"from={quote('example.com/app', safe='')}" in mounts[0].path
    reuploaded = set(uploads(copy.stderr, "example.com/mirror")) & set(info.layer_digests)
    assert not reuploaded, f"mount not honoured (the registry answered with an upload session): {reuploaded}"

    mirror = f"docker://{addr}/example.com/mirror:2.0"
    assert sandbox.skopeo("inspect", "--tls-verify=false", "--raw", mirror).stdout.encode() == info.manifest_bytes
    sandbox.skopeo("copy", "--src-tls-verify=false", mirror, f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", info.manifest_bytes, info.all_blob_digests, info.path)
    # The source repository is untouched.
    assert sandbox.skopeo("inspect", "--tls-verify=false", "--raw", src).stdout.encode() == info.manifest_bytes


def test_skopeo_fresh_client_reuses_layers_another_repository_holds(tmp_path: Path, registry):
    """A skopeo with an empty blob-info cache only HEADs the repository it
    pushes to: automatic content discovery (docs/api.md "Blobs another
    repository holds") answers 200 for layers pushed to another repository, so
    nothing is uploaded again, and the new repository serves every byte."""
    info = write_image(tmp_path / "src", layers=[2048, 300_000, 5 << 20], tag="1.0", seed=14)
    addr = registry.address
    with ClientSandbox(tmp_path / "first", addr) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", f"docker://{addr}/example.com/app:1.0")
    with ClientSandbox(tmp_path / "second", addr) as sb:
        push = sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0",
                         f"docker://{addr}/example.com/other:1.0")
        reqs = debug_requests(push.stderr)
        assert not [r for r in reqs if r.method in ("POST", "PATCH")], "known layers were uploaded again"
        assert [r.path for r in reqs if r.method == "PUT"] == ["/v2/example.com/other/manifests/1.0"]
        sb.skopeo("copy", "--src-tls-verify=false", f"docker://{addr}/example.com/other:1.0", f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", info.manifest_bytes, info.all_blob_digests, info.path)


def test_skopeo_docker_schema2(tmp_path: Path, registry, sandbox: ClientSandbox):
    info = write_image(tmp_path / "src", layers=[5000, 100_000], tag="1.0", seed=13)
    ref = f"docker://{registry.address}/example.com/app:v2s2"
    digestfile = tmp_path / "pushed.digest"
    sandbox.skopeo("copy", "--format", "v2s2", "--dest-tls-verify=false", "--digestfile", digestfile,
                   f"oci:{info.path}:1.0", ref)

    raw = sandbox.skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    assert sha(raw) == digestfile.read_text().strip()
    manifest = json.loads(raw)
    assert manifest["mediaType"] == MT_DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == MT_DOCKER_CONFIG
    assert manifest["config"]["digest"] == info.config_digest
    assert [l["digest"] for l in manifest["layers"]] == info.layer_digests
    assert {l["mediaType"] for l in manifest["layers"]} == {MT_DOCKER_LAYER}

    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", raw, info.all_blob_digests, info.path)
    # By digest, the registry serves the same schema2 bytes.
    sandbox.skopeo("copy", "--src-tls-verify=false",
                   f"docker://{registry.address}/example.com/app@{sha(raw)}", f"dir:{tmp_path / 'bydigest'}")
    assert (tmp_path / "bydigest" / "manifest.json").read_bytes() == raw


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_skopeo_recompressed_layers(tmp_path: Path, registry, sandbox: ClientSandbox, compression: str):
    """Uncompressed source layers are compressed on the fly by skopeo, so it uploads them with
    Transfer-Encoding: chunked and learns the digest only at the end (PUT ?digest=)."""
    info = write_image(tmp_path / "src", layers=[200_000, 2 << 20], tag="1.0", seed=14, gzip=False)
    ref = f"docker://{registry.address}/example.com/raw:{compression}"
    digestfile = tmp_path / "pushed.digest"
    sandbox.skopeo("copy", "--dest-tls-verify=false", "--dest-compress-format", compression,
                   "--digestfile", digestfile, f"oci:{info.path}:1.0", ref)

    raw = sandbox.skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    assert sha(raw) == digestfile.read_text().strip()
    manifest = json.loads(raw)
    assert manifest["config"]["digest"] == info.config_digest  # diff_ids did not change
    assert [l["mediaType"] for l in manifest["layers"]] == [f"application/vnd.oci.image.layer.v1.tar+{compression}"] * 2
    pushed_layers = [l["digest"] for l in manifest["layers"]]
    assert not set(pushed_layers) & set(info.layer_digests)

    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", raw, [info.config_digest, *pushed_layers])
    if compression == "gzip":
        for d, diff_id in zip(pushed_layers, info.diff_ids):
            assert sha(gzip.decompress((tmp_path / "dir" / d.split(":")[1]).read_bytes())) == diff_id
    # Decompressed by skopeo on the way out, the layers are the original tars again.
    sandbox.skopeo("copy", "--src-tls-verify=false", "--dest-decompress", ref, f"dir:{tmp_path / 'plain'}")
    for diff_id in info.diff_ids:
        p = tmp_path / "plain" / diff_id.split(":")[1]
        assert p.is_file() and sha256_file(p) == diff_id
        assert p.read_bytes() == blob_path(info.path, diff_id).read_bytes()


def test_skopeo_multiarch_index(tmp_path: Path, registry, sandbox: ClientSandbox):
    idx = write_index(tmp_path / "src", layers=[1000, 50_000], tag="multi", seed=15)
    addr = registry.address
    ref = f"docker://{addr}/example.com/multi:1"
    digestfile = tmp_path / "pushed.digest"
    sandbox.skopeo("copy", "--all", "--dest-tls-verify=false", "--digestfile", digestfile,
                   f"oci:{idx.path}:multi", ref)
    assert digestfile.read_text().strip() == idx.index_digest

    assert sandbox.skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode() == idx.index_bytes
    for img in idx.images:
        child = f"docker://{addr}/example.com/multi@{img.manifest_digest}"
        assert sandbox.skopeo("inspect", "--tls-verify=false", "--raw", child).stdout.encode() == img.manifest_bytes

    # --all back into an OCI layout: the index and every platform's blobs, digests identical.
    sandbox.skopeo("copy", "--all", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'oci'}:multi")
    assert_oci_copy(tmp_path / "oci", "multi", idx.index_digest,
                    [d for img in idx.images for d in (img.manifest_digest, *img.all_blob_digests)])
    assert blob_path(tmp_path / "oci", idx.index_digest).read_bytes() == idx.index_bytes

    # Without --all, skopeo resolves the index to one platform.
    arm = idx.images[1]
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'arm'}",
                   global_args=["--override-arch", arm.architecture, "--override-variant", arm.variant])
    assert_dir_copy(tmp_path / "arm", arm.manifest_bytes, arm.all_blob_digests)
    amd = idx.images[0]
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'amd'}",
                   global_args=["--override-arch", "amd64", "--override-os", "linux"])
    assert_dir_copy(tmp_path / "amd", amd.manifest_bytes, amd.all_blob_digests)


def test_skopeo_large_layer(tmp_path: Path, registry, sandbox: ClientSandbox):
    """A 64 MiB layer (stored gzip, so incompressible bytes pass through unchanged) round trips."""
    info = write_image(tmp_path / "src", layers=[64 << 20, 1000], tag="1.0", seed=16, compresslevel=0)
    ref = f"docker://{registry.address}/example.com/big:1.0"
    sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", ref)
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", info.manifest_bytes, info.all_blob_digests, info.path)


# --------------------------------------------------------------------------- podman

def test_podman_push_pull(tmp_path: Path, registry, sandbox: ClientSandbox):
    """podman stores layers uncompressed, so its push re-compresses them: the pushed layer
    digests and manifest digest are new, while the config (image ID) and diff_ids stay."""
    info = write_image(tmp_path / "src", layers=[2000, 400_000, 1 << 20], tag="1.0", seed=21)
    addr = registry.address
    target = f"{addr}/example.com/podman:1.0"

    loaded = sandbox.podman("pull", f"oci:{info.path}:1.0").stdout.split()[-1]
    assert loaded == info.config_digest.split(":")[1]
    sandbox.podman("tag", loaded, target)
    digestfile = tmp_path / "pushed.digest"
    sandbox.podman("push", "--tls-verify=false", "--digestfile", digestfile, target)
    pushed = digestfile.read_text().strip()

    remote = json.loads(sandbox.skopeo("inspect", "--tls-verify=false", f"docker://{target}").stdout)
    assert remote["Digest"] == pushed
    assert len(remote["Layers"]) == 3
    raw = sandbox.skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{target}").stdout.encode()
    assert sha(raw) == pushed
    assert json.loads(raw)["config"]["digest"] == info.config_digest
    assert (sandbox.skopeo("inspect", "--tls-verify=false", "--config", "--raw", f"docker://{target}")
            .stdout.encode() == info.config_bytes)

    sandbox.podman("rmi", "--all", "--force")
    assert sandbox.podman("images", "--quiet").stdout.strip() == ""

    sandbox.podman("pull", "--tls-verify=false", target)
    local = json.loads(sandbox.podman("image", "inspect", target).stdout)[0]
    assert local["Id"] == info.config_digest.split(":")[1]
    assert local["Digest"] == pushed
    assert f"{addr}/example.com/podman@{pushed}" in local["RepoDigests"]
    assert local["RootFS"]["Layers"] == info.diff_ids
    assert (local["Architecture"], local["Os"]) == ("amd64", "linux")

    # And by digest.
    sandbox.podman("rmi", "--all", "--force")
    sandbox.podman("pull", "--tls-verify=false", f"{addr}/example.com/podman@{pushed}")
    local = json.loads(sandbox.podman("image", "inspect", f"{addr}/example.com/podman@{pushed}").stdout)[0]
    assert local["Id"] == info.config_digest.split(":")[1]
    assert local["RootFS"]["Layers"] == info.diff_ids


# --------------------------------------------------------------------------- oras-py

def oras_client(address: str):
    try:
        import oras.client
    except ImportError:
        pytest.fail("oras-py is not installed: pip install oras (or pip install -e '.[test]')", pytrace=False)
    return oras.client.OrasClient(hostname=address, insecure=True)


def test_oras_file_artifact(tmp_path: Path, registry):
    client = oras_client(registry.address)
    data = os.urandom(300_000)
    (tmp_path / "payload.bin").write_bytes(data)
    (tmp_path / "config.json").write_bytes(b'{"kind":"example"}')
    target = f"{registry.address}/artifacts/files:v1"

    resp = client.push(target=target, disable_path_validation=True,
                       files=[f"{tmp_path / 'payload.bin'}:application/vnd.example.payload.v1"],
                       manifest_config=f"{tmp_path / 'config.json'}:application/vnd.example.config.v1+json",
                       manifest_annotations={"org.example.note": "hello"}, quiet=True)
    assert resp.status_code == 201
    pushed = resp.headers.get("Docker-Content-Digest")
    assert pushed and pushed.startswith("sha256:")

    r = httpx.get(f"{registry.url}/v2/artifacts/files/manifests/v1", headers={"Accept": MT_OCI_MANIFEST})
    assert r.status_code == 200
    assert sha(r.content) == pushed
    manifest = r.json()
    assert manifest["config"]["mediaType"] == "application/vnd.example.config.v1+json"
    assert manifest["layers"][0]["mediaType"] == "application/vnd.example.payload.v1"
    assert manifest["layers"][0]["digest"] == sha(data)
    assert manifest["annotations"] == {"org.example.note": "hello"}

    files = client.pull(target=target, outdir=str(tmp_path / "out"))
    assert [Path(f).name for f in files] == ["payload.bin"]
    assert Path(files[0]).read_bytes() == data


def test_oras_artifact_type(tmp_path: Path, registry):
    """An OCI 1.1 artifact: manifest artifactType + the empty config descriptor."""
    import oras.oci

    client = oras_client(registry.address)
    data = os.urandom(120_000)
    (tmp_path / "sbom.json").write_bytes(data)
    (tmp_path / "empty.json").write_bytes(b"{}")
    target = f"{registry.address}/artifacts/typed:v1"
    container = client.get_container(target)

    layer = oras.oci.NewLayer(str(tmp_path / "sbom.json"), media_type="application/vnd.example.sbom.v1+json")
    layer["annotations"] = {"org.opencontainers.image.title": "sbom.json"}
    empty = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": sha(b"{}"), "size": 2}
    assert client.upload_blob(str(tmp_path / "sbom.json"), container, layer).status_code in (201, 202)
    assert client.upload_blob(str(tmp_path / "empty.json"), container, empty).status_code in (200, 201, 202)
    manifest = {"schemaVersion": 2, "mediaType": MT_OCI_MANIFEST, "artifactType": "application/vnd.example.sbom.v1",
                "config": empty, "layers": [layer], "annotations": {"org.example.kind": "sbom"}}
    resp = client.upload_manifest(manifest, container)
    assert resp.status_code == 201, resp.text
    pushed = resp.headers["Docker-Content-Digest"]

    got = client.get_manifest(target)
    assert got["artifactType"] == "application/vnd.example.sbom.v1"
    assert got["config"] == empty
    assert got == manifest
    r = httpx.get(f"{registry.url}/v2/artifacts/typed/manifests/{pushed}", headers={"Accept": MT_OCI_MANIFEST})
    assert r.status_code == 200 and sha(r.content) == pushed

    files = client.pull(target=target, outdir=str(tmp_path / "out"))
    assert [Path(f).name for f in files] == ["sbom.json"]
    assert Path(files[0]).read_bytes() == data


def test_oras_chunked_upload(tmp_path: Path, registry):
    """oras-py's chunked flow: POST, PATCH with Content-Range per 64 KiB chunk, PUT ?digest=."""
    client = oras_client(registry.address)
    data = os.urandom(64 * 1024 * 3 + 1234)
    (tmp_path / "chunks.bin").write_bytes(data)
    target = f"{registry.address}/artifacts/chunked:v1"
    resp = client.push(target=target, disable_path_validation=True, files=[str(tmp_path / "chunks.bin")],
                       do_chunked=True, chunk_size=64 * 1024, quiet=True)
    assert resp.status_code == 201
    r = httpx.head(f"{registry.url}/v2/artifacts/chunked/blobs/{sha(data)}")
    assert r.status_code == 200 and int(r.headers["content-length"]) == len(data)
    files = client.pull(target=target, outdir=str(tmp_path / "out"))
    assert Path(files[0]).read_bytes() == data
