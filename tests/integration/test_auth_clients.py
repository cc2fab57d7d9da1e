"""Real clients against a registry with token auth on: `skopeo login` / `podman
login` then push and pull, the `--creds` variants, anonymous pull of a public
repository, a cross-repository mount under auth, a denied push into another
org's namespace, and oras-py's token backend (a client that re-authenticates
on 401 and then keeps one token).

Clients run hermetically (tests/helpers/clients.py); every digest that should
survive a round trip is checked byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.helpers.auth import AuthRegistry, bearer, new_password, run_auth_registry
from tests.helpers.clients import ClientSandbox, debug_requests
from tests.helpers.ocilayout import MT_OCI_MANIFEST, blob_path, sha256_file, write_image

pytestmark = pytest.mark.integration

ACL = """
anonymous_pull = ["public/**"]

[[acl]]
namespaces = ["a.example"]
users = ["alice"]
actions = ["pull", "push", "delete"]

[[acl]]
namespaces = ["b.example"]
users = ["bob"]
actions = ["pull", "push", "delete"]

[[acl]]
repositories = ["public/**"]
users = ["alice"]
actions = ["push"]
"""


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[AuthRegistry]:
    with run_auth_registry(tmp_path, {"alice": new_password(), "bob": new_password()}, ACL) as r:
        yield r


@pytest.fixture
def sandbox(tmp_path: Path, reg: AuthRegistry) -> Iterator[ClientSandbox]:
    with ClientSandbox(tmp_path / "clients", reg.address) as sb:
        yield sb


def assert_dir_copy(out: Path, manifest_bytes: bytes, digests: list[str]) -> None:
    assert (out / "manifest.json").read_bytes() == manifest_bytes
    for d in digests:
        assert sha256_file(out / d.split(":", 1)[1]) == d


def test_skopeo_login_push_pull(tmp_path, reg, sandbox):
    info = write_image(tmp_path / "src", layers=[1024, 200_000], tag="1.0", seed=51)
    ref = f"docker://{reg.address}/a.example/app:1.0"
    # not logged in: push refused
    p = sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", ref, check=False)
    assert p.returncode != 0 and ("unauthorized" in p.stderr.lower() or "denied" in p.stderr.lower())
    # a wrong password does not log in
    p = sandbox.login("skopeo", reg.address, "alice", "not-" + reg.users["alice"], check=False)
    assert p.returncode != 0
    assert json.loads(sandbox.authfile.read_text())["auths"] == {}
    sandbox.login("skopeo", reg.address, "alice", reg.users["alice"])
    assert reg.address in json.loads(sandbox.authfile.read_text())["auths"]

    sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", ref)
    raw = sandbox.skopeo("inspect", "--tls-verify=false", "--raw", ref).stdout.encode()
    assert raw == info.manifest_bytes
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"dir:{tmp_path / 'dir'}")
    assert_dir_copy(tmp_path / "dir", info.manifest_bytes, info.all_blob_digests)

    # a second repository of the org: containers/image mounts the layers from the
    # first (it asks for pull on the source in its token), nothing is re-uploaded
    push = sandbox.skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", ref,
                          f"docker://{reg.address}/a.example/app2:1.0")
    requests = debug_requests(push.stderr)
    for d in info.layer_digests:
        mounts = [r for r in requests if r.method == "POST" and f"mount={quote(d, safe='')}" in r.path]
        assert mounts and f"from={quote('a.example/app', safe='')}" in mounts[0].path
        assert not [r for r in requests if r.method == "PUT" and quote(d, safe="") in r.path], "re-uploaded"
    tags = json.loads(sandbox.skopeo("list-tags", "--tls-verify=false",
                                     f"docker://{reg.address}/a.example/app2").stdout)
    assert tags["Tags"] == ["1.0"]

    sandbox.skopeo("logout", reg.address)
    p = sandbox.skopeo("inspect", "--tls-verify=false", "--raw", ref, check=False)
    assert p.returncode != 0


def test_podman_login_push_pull(tmp_path, reg, sandbox):
    info = write_image(tmp_path / "src", layers=[2000, 300_000], tag="1.0", seed=52)
    target = f"{reg.address}/a.example/podman:1.0"
    loaded = sandbox.podman("pull", f"oci:{info.path}:1.0").stdout.split()[-1]
    sandbox.podman("tag", loaded, target)
    p = sandbox.podman("push", "--tls-verify=false", target, check=False)
    assert p.returncode != 0
    p = sandbox.login("podman", reg.address, "alice", "wrong", check=False)
    assert p.returncode != 0
    sandbox.login("podman", reg.address, "alice", reg.users["alice"])
    digestfile = tmp_path / "pushed.digest"
    sandbox.podman("push", "--tls-verify=false", "--digestfile", digestfile, target)
    pushed = digestfile.read_text().strip()
    sandbox.podman("rmi", "--all", "--force")
    sandbox.podman("pull", "--tls-verify=false", target)
    local = json.loads(sandbox.podman("image", "inspect", target).stdout)[0]
    assert local["Id"] == info.config_digest.split(":")[1]
    assert local["Digest"] == pushed
    assert local["RootFS"]["Layers"] == info.diff_ids
    # podman's login is in the shared authfile: skopeo reads it too
    remote = json.loads(sandbox.skopeo("inspect", "--tls-verify=false", f"docker://{target}").stdout)
    assert remote["Digest"] == pushed


def test_creds_variants(tmp_path, reg, sandbox):
    info = write_image(tmp_path / "src", layers=[5000], tag="1.0", seed=53)
    alice = f"alice:{reg.users['alice']}"
    ref = f"docker://{reg.address}/a.example/creds:1.0"
    p = sandbox.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "alice:wrong", f"oci:{info.path}:1.0",
                       ref, check=False)
    assert p.returncode != 0
    sandbox.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", alice, f"oci:{info.path}:1.0", ref)
    raw = sandbox.skopeo("inspect", "--tls-verify=false", "--creds", alice, "--raw", ref).stdout.encode()
    assert raw == info.manifest_bytes
    sandbox.skopeo("copy", "--src-tls-verify=false", "--src-creds", alice, ref, f"dir:{tmp_path / 'out'}")
    assert_dir_copy(tmp_path / "out", info.manifest_bytes, info.all_blob_digests)
    # podman with --creds, no login
    target = f"{reg.address}/a.example/creds-podman:1.0"
    loaded = sandbox.podman("pull", f"oci:{info.path}:1.0").stdout.split()[-1]
    sandbox.podman("tag", loaded, target)
    sandbox.podman("push", "--tls-verify=false", "--creds", alice, target)
    sandbox.podman("rmi", "--all", "--force")
    sandbox.podman("pull", "--tls-verify=false", "--creds", alice, target)
    assert json.loads(sandbox.podman("image", "inspect", target).stdout)[0]["Id"] == info.config_digest.split(":")[1]
    # nothing was stored by any of this
    assert json.loads(sandbox.authfile.read_text())["auths"] == {}


def test_other_org_push_denied_and_anonymous_public_pull(tmp_path, reg, sandbox):
    info = write_image(tmp_path / "src", layers=[3000], tag="1.0", seed=54)
    sandbox.login("skopeo", reg.address, "bob", reg.users["bob"])
    p = sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0",
                       f"docker://{reg.address}/a.example/intruder:1.0", check=False)
    assert p.returncode != 0
    assert "unauthorized" in p.stderr.lower() or "denied" in p.stderr.lower()
    tok = reg.token("alice", "registry:catalog:*")
    assert "a.example/intruder" not in httpx.get(f"{reg.url}/v2/_catalog", headers=bearer(tok)).json()["repositories"]
    # alice publishes to public/; bob, logged out, pulls it anonymously
    sandbox.skopeo("logout", reg.address)
    sandbox.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"alice:{reg.users['alice']}",
                   f"oci:{info.path}:1.0", f"docker://{reg.address}/public/base:1.0")
    sandbox.skopeo("copy", "--src-tls-verify=false", f"docker://{reg.address}/public/base:1.0",
                   f"dir:{tmp_path / 'anon'}")
    assert_dir_copy(tmp_path / "anon", info.manifest_bytes, info.all_blob_digests)
    # ... but may not push there
    p = sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0",
                       f"docker://{reg.address}/public/base:2.0", check=False)
    assert p.returncode != 0


def test_oras_token_backend_push_pull(tmp_path, reg, monkeypatch):
    """oras-py answers a 401 by asking the realm for a token for the challenge's
    scope, then keeps that one token for every later request."""
    import oras.client

    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no docker config of the machine is read
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "home" / ".docker"))
    monkeypatch.chdir(tmp_path)
    data = os.urandom(200_000)
    (tmp_path / "payload.bin").write_bytes(data)
    target = f"{reg.address}/a.example/artifact:v1"

    client = oras.client.OrasClient(hostname=reg.address, insecure=True, auth_backend="token")
    client.auth.set_basic_auth("alice", reg.users["alice"])
    resp = client.push(target=target, files=["payload.bin:application/vnd.example.payload.v1"], quiet=True)
    assert resp.status_code == 201
    pushed = resp.headers["Docker-Content-Digest"]

    tok = reg.token("alice", "repository:a.example/artifact:pull")
    r = httpx.get(f"{reg.url}/v2/a.example/artifact/manifests/v1",
                  headers={**bearer(tok), "Accept": MT_OCI_MANIFEST})
    assert r.status_code == 200 and r.headers["docker-content-digest"] == pushed

    reader = oras.client.OrasClient(hostname=reg.address, insecure=True, auth_backend="token")
    reader.auth.set_basic_auth("alice", reg.users["alice"])
    files = reader.pull(target=target, outdir=str(tmp_path / "out"))
    assert [Path(f).read_bytes() for f in files] == [data]

    # bob, with the same client code, is refused: his token carries nothing for a.example
    intruder = oras.client.OrasClient(hostname=reg.address, insecure=True, auth_backend="token")
    intruder.auth.set_basic_auth("bob", reg.users["bob"])
    with pytest.raises(ValueError, match="UNAUTHORIZED"):  # oras-py: "Issue retrieving session url: {errors…}"
        intruder.push(target=f"{reg.address}/a.example/artifact:evil",
                      files=["payload.bin:application/vnd.example.payload.v1"], quiet=True)
    assert httpx.get(f"{reg.url}/v2/a.example/artifact/tags/list", headers=bearer(tok)).json()["tags"] == ["v1"]


def test_blob_bytes_survive(tmp_path, reg, sandbox):
    """The encrypted store under auth still returns every byte: a layer through skopeo and back."""
    info = write_image(tmp_path / "src", layers=[1 << 20], tag="1.0", seed=55)
    sandbox.login("skopeo", reg.address, "alice", reg.users["alice"])
    ref = f"docker://{reg.address}/a.example/bytes:1.0"
    sandbox.skopeo("copy", "--dest-tls-verify=false", f"oci:{info.path}:1.0", ref)
    sandbox.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'back'}:1.0")
    for d in info.all_blob_digests:
        assert blob_path(tmp_path / "back", d).read_bytes() == blob_path(info.path, d).read_bytes()
