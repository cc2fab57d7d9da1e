"""Publishing and federation end to end, real everything (docs/federation.md):
a knot DNS server taking RFC 2136 updates with TSIG, three Kubo daemons with
no bootstrap peers and no shared routing (B and C find A only through the
`ipfsnode=` hint), three registries each owning one namespace, skopeo.

RA owns acme.test (public `base`, private `app` built on it), RB owns
partner.test (granted `app`), RC owns other.test (no grant).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
import contextlib
from typing import Callable, Iterator

import httpx
import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.builder import NamespaceSnapshot, TreeState, build_tree
from sealedreg.publish.dnsupdate import current_txt, load_tsig_key, replace_txt
from sealedreg.publish.keyfiles import load_keys
from sealedreg.storage.kubo import KuboStore
from sealedreg.storage.kubo_rpc import KuboClient
from tests.helpers.clients import ClientSandbox
from tests.helpers.knot import KnotServer, run_knot
from tests.helpers.kubo import KuboNode, run_kubo
from tests.helpers.ocilayout import ImageInfo, write_image
from tests.helpers.server import REPO_ROOT, RunningServer, free_port, run_registry

pytestmark = pytest.mark.integration

ZONES = ["acme.test", "partner.test", "other.test"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                       timeout=300)
    if check:
        assert p.returncode == 0, p.stderr
    return p


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60.0) -> None:
    """Poll `check` until it holds (a readiness probe, not a sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@dataclass
class Org:
    name: str
    config: Path
    data: Path
    port: int

    def args(self) -> list[str]:
        return ["--config", str(self.config), "--data", str(self.data)]


def org_config(tmp: Path, name: str, knot: KnotServer, kubo: KuboNode | None, port: int, *,
               private: str = "", extra: str = "", secret: bool = True) -> Org:
    """An organisation's keys, secret and config: it owns `name`, federates everything else.
    Without `secret` (and `private`) its repositories use the global domain, so anyone can pull them."""
    keys = tmp / "keys"
    if not (keys / f"{name}.key").exists():
        cli("keygen", "--name", name, "--keys", str(keys))
    secret_file = tmp / f"{name}.secret"
    if not secret_file.exists():
        cli("org-secret", str(secret_file))
    lines = [f'dns_server = "{knot.address}"', f'tsig_key = "{knot.key_file}"', 'federate = ["*"]',
             f'public_url = "http://127.0.0.1:{port}"', "dns_ttl = 1", "resolve_cache_min = 0.5",
             "federation_timeout = 15"]
    if kubo is not None:
        lines.append(f'ipfs_api = "{kubo.api_url}"')
    lines.append(extra)
    lines += [f'[namespaces."{name}"]', f'keys = "{keys / name}.key"']
    if secret or private:
        lines.append(f'org_secret = "{secret_file}"')
    if private:
        lines += [f'private = ["{private}"]', 'layers = "auto"']
    config = tmp / f"{name}-{port}.toml"
    config.write_text("\n".join(lines) + "\n")
    return Org(name, config, tmp / f"data-{name}-{port}", port)


def serve(org: Org) -> "contextlib.AbstractContextManager[RunningServer]":
    return run_registry(org.data, ["--config", str(org.config)], port=org.port)


def get(srv: RunningServer, path: str, **kw) -> httpx.Response:
    return httpx.get(f"{srv.url}{path}", timeout=60, **kw)


def tags(srv: RunningServer, repo: str) -> list[str]:
    r = get(srv, f"/v2/{repo}/tags/list")
    return r.json().get("tags", []) if r.status_code == 200 else []


def received(kubo: KuboNode) -> int:
    return httpx.post(f"{kubo.api_url}/api/v0/bitswap/stat", timeout=30).json()["DataReceived"]


def pulled_digests(sb: ClientSandbox, source: str, dest: Path) -> set[str]:
    sb.skopeo("copy", "--src-tls-verify=false", source, f"dir:{dest}", debug=False)
    manifest = (dest / "manifest.json").read_bytes()
    doc = json.loads(manifest)
    blobs = {doc["config"]["digest"], *(layer["digest"] for layer in doc["layers"])}
    for digest in blobs:
        assert "sha256:" + hashlib.sha256((dest / digest.split(":")[1]).read_bytes()).hexdigest() == digest
    return {"sha256:" + hashlib.sha256(manifest).hexdigest(), *blobs}


def pushed_digests(img: ImageInfo) -> set[str]:
    return {img.manifest_digest, img.config_digest, *img.layer_digests}


def point_dnslink(knot: KnotServer, namespace: str, value: str) -> None:
    async def go() -> None:
        name = f"_dnslink.{namespace}"
        current = await current_txt(knot.address, name)
        await replace_txt(knot.address, load_tsig_key(knot.key_file), {name: [f"dnslink={value}"]},
                          {name: current}, 1)
    asyncio.run(go())


class SideTree(KuboStore):
    """Kubo A's blocks, without touching the registry's MFS root: for forged trees."""

    async def keep_root(self, name: str, root: str) -> None:
        return None


def forged_tree(kubo: KuboNode, namespace: str, keys: OrgKeys, seq: int, expires: int) -> str:
    """An empty tree for `namespace`, signed by `keys`, put in Kubo A."""
    async def go() -> str:
        store = SideTree(KuboClient(kubo.api_url))
        try:
            built = await build_tree(store, NamespaceSnapshot(namespace, keys), TreeState(seq - 1, "", ""),
                                     expires=expires)
            await store.kubo.pin_add(built.root)
            return built.root
        finally:
            await store.close()
    return asyncio.run(go())


@pytest.fixture
def world(tmp_path: Path) -> Iterator[dict]:
    with run_knot(tmp_path, ZONES) as knot, \
            run_kubo(tmp_path, "a", routing="dht") as ka, run_kubo(tmp_path, "b") as kb, run_kubo(tmp_path, "c") as kc:
        yield {"knot": knot, "ka": ka, "kb": kb, "kc": kc, "tmp": tmp_path}


def test_publish_and_pull_through_dns_and_ipfs(world):
    tmp, knot, ka, kb, kc = world["tmp"], world["knot"], world["ka"], world["kb"], world["kc"]
    ra = org_config(tmp, "acme.test", knot, ka, free_port(), private="app")
    rb = org_config(tmp, "partner.test", knot, kb, free_port())
    rc = org_config(tmp, "other.test", knot, kc, free_port())
    base = write_image(tmp / "base", layers=[1_500_000, 400_000], seed=7, compresslevel=0, tag="1")
    app = write_image(tmp / "app", layers=[1_500_000, 400_000, 300_000], seed=7, compresslevel=0, tag="1")
    assert set(base.layer_digests) < set(app.layer_digests)  # app is built on base
    # partner.test publishes its keys, so acme.test can grant to it by domain
    partner = json.loads(cli("publish", "partner.test", *rb.args()).stdout)
    assert partner["dns"] == "updated"
    with serve(ra) as a, serve(rb) as b, serve(rc) as c, \
            ClientSandbox(tmp / "sb", a.address, b.address, c.address) as sb:
        # 1. RA: push public base and private app, grant partner.test, publish through RFC 2136
        for img, repo in ((base, "base"), (app, "app")):
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:1",
                      f"docker://{a.address}/acme.test/{repo}:1", debug=False)
        cli("grant", *ra.args(), "--recipient", "partner.test", "acme.test/app")
        published = json.loads(cli("publish", "acme.test", *ra.args()).stdout)
        assert published["dns"] == "updated" and published["dnslink"] == f"/ipfs/{published['root']}"
        sealedreg_txt = published["records"]["_sealedreg.acme.test"][0]
        assert f"ipfsnode={ka.swarm_addr}" in sealedreg_txt and f"gateway=http://127.0.0.1:{ra.port}" in sealedreg_txt
        resolved = json.loads(cli("resolve", "acme.test", *rb.args(), "--json").stdout)
        assert resolved["root"] == published["root"] and resolved["seq"] == published["seq"]
        assert resolved["verified"] is True and resolved["expires"] == published["expires"]
        assert [p["repo"] for p in resolved["private"] if p["opens"]] == ["acme.test/app"]

        # 2. RB pulls the private image: every digest is what was pushed
        assert pulled_digests(sb, f"docker://{b.address}/acme.test/app:1", tmp / "app-b") == pushed_digests(app)
        before = received(kb)
        assert pulled_digests(sb, f"docker://{b.address}/acme.test/base:1", tmp / "base-b") == pushed_digests(base)
        assert received(kb) - before < 100_000  # base's layers came with app: only its config and manifest moved

        # 3. RC, not granted: app is unknown, base works, nothing private leaks
        r = get(c, "/v2/acme.test/app/manifests/1")
        assert r.status_code == 404 and r.json()["errors"][0]["code"] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")
        assert get(c, "/v2/acme.test/base/manifests/1", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).status_code == 200
        private = {app.manifest_digest, app.config_digest, *(set(app.layer_digests) - set(base.layer_digests))}
        seen = b"".join(p.read_bytes() for p in rc.data.rglob("*") if p.is_file())
        seen += (rc.data.parent / f"sealedreg-{rc.port}.log").read_bytes()
        for digest in private:
            assert digest.encode() not in seen and digest.split(":")[1].encode() not in seen

        # writes to a federated namespace are refused
        r = httpx.post(f"{b.url}/v2/acme.test/base/blobs/uploads/", timeout=30)
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == "DENIED"

        # 7. containerd mirror request
        r = get(b, "/v2/base/manifests/1?ns=acme.test", headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        assert r.status_code == 200 and r.headers["docker-content-digest"] == base.manifest_digest

        # 4. a new tag is seen after the TTL
        sb.skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                  f"docker://{a.address}/acme.test/base:1", f"docker://{a.address}/acme.test/base:2", debug=False)
        second = json.loads(cli("publish", "acme.test", *ra.args()).stdout)
        assert second["seq"] > published["seq"] and second["dns"] == "updated"
        wait_for("RB to see base:2", lambda: "2" in tags(b, "acme.test/base"))

        # a rolled-back tree (lower seq) is refused; so is an expired one, and one signed by another key
        point_dnslink(knot, "acme.test", f"/ipfs/{published['root']}")
        wait_for("RB to refuse the rollback", lambda: get(b, "/v2/acme.test/base/tags/list").status_code == 404)
        assert "already seen" in get(b, "/v2/acme.test/base/tags/list").json()["errors"][0]["message"]
        acme = load_keys(ra.config.parent / "keys" / "acme.test.key")
        expired = forged_tree(ka, "acme.test", acme, second["seq"] + 10, int(time.time()) - 5)
        point_dnslink(knot, "acme.test", f"/ipfs/{expired}")
        wait_for("RB to refuse the expired tree",
                 lambda: "expired" in get(b, "/v2/acme.test/base/tags/list").text)
        stranger = forged_tree(ka, "acme.test", OrgKeys.generate("stranger"), second["seq"] + 20,
                               int(time.time()) + 3600)
        point_dnslink(knot, "acme.test", f"/ipfs/{stranger}")
        wait_for("RB to refuse the tree signed by another key",
                 lambda: "expected publisher" in get(b, "/v2/acme.test/base/tags/list").text)
        report = json.loads(cli("resolve", "acme.test", *rb.args(), "--json", check=False).stdout)
        assert report["verified"] is False and "expected publisher" in report["error"]

        # 5. the same through IPNS: DNS is written once, later publishes change only the record
        first = json.loads(cli("publish", "acme.test", "--ipns", "--force", *ra.args()).stdout)
        assert first["dnslink"] == f"/ipns/{first['ipns']}" and first["dns"] == "updated"
        resolved = httpx.post(f"{ka.api_url}/api/v0/name/resolve", params={"arg": first["ipns"]}, timeout=30).json()
        assert resolved["Path"] == f"/ipfs/{first['root']}"  # Kubo itself accepts our record
        wait_for("RB to follow the IPNS name", lambda: "2" in tags(b, "acme.test/base"))
        sb.skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                  f"docker://{a.address}/acme.test/base:1", f"docker://{a.address}/acme.test/base:3", debug=False)
        again = json.loads(cli("publish", "acme.test", "--ipns", *ra.args()).stdout)
        assert again["dns"] == "unchanged" and again["seq"] > first["seq"]
        wait_for("RB to see base:3 through IPNS", lambda: "3" in tags(b, "acme.test/base"))
        assert pulled_digests(sb, f"docker://{b.address}/acme.test/app:1", tmp / "app-b2") == pushed_digests(app)

        # an embedded RB fetches from RA's trustless gateway instead, every block checked
        rb_embedded = org_config(tmp, "partner.test", knot, None, free_port())
        with serve(rb_embedded) as e:
            sb.set_registries(a.address, b.address, c.address, e.address)
            assert pulled_digests(sb, f"docker://{e.address}/acme.test/app:1", tmp / "app-e") == pushed_digests(app)
            assert pulled_digests(sb, f"docker://{e.address}/acme.test/base:3", tmp / "base-e") == pushed_digests(base)


def test_sealed_v2_grant_revoke_and_key_rotation_through_federation(world):
    """The v2 format end to end: the granted partner finds its envelope
    through its index and pulls; a stranger's resolve learns only that one
    envelope exists; after `keygen --rotate` the partner, which knew the old
    key, follows it to the new one, and then refuses a tree signed by the old
    key alone; after a revoke the partner can no longer open the repository."""
    tmp, knot, ka, kb, kc = world["tmp"], world["knot"], world["ka"], world["kb"], world["kc"]
    ra = org_config(tmp, "acme.test", knot, ka, free_port(), private="app")
    rb = org_config(tmp, "partner.test", knot, kb, free_port())
    rc = org_config(tmp, "other.test", knot, kc, free_port())
    app = write_image(tmp / "app", layers=[300_000], seed=11, compresslevel=0, tag="1")
    cli("publish", "partner.test", *rb.args())
    keys_dir = ra.config.parent / "keys"
    with serve(ra) as a, serve(rb) as b, ClientSandbox(tmp / "sb", a.address, b.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{app.path}:1", f"docker://{a.address}/acme.test/app:1",
                  debug=False)
        cli("grant", *ra.args(), "--recipient", "partner.test", "acme.test/app")
        first = json.loads(cli("publish", "acme.test", *ra.args()).stdout)
        assert pulled_digests(sb, f"docker://{b.address}/acme.test/app:1", tmp / "app-1") == pushed_digests(app)
        partner_view = json.loads(cli("resolve", "acme.test", *rb.args(), "--json").stdout)
        assert partner_view["format"] == 2 and partner_view["sealed"] == 1
        assert [(p["repo"], p["opens"]) for p in partner_view["private"]] == [("acme.test/app", True)]
        stranger_view = json.loads(cli("resolve", "acme.test", *rc.args(), "--json").stdout)
        assert stranger_view["verified"] and stranger_view["sealed"] == 1 and stranger_view["private"] == []

        # rotation: the tree is re-sealed and countersigned; DNS's _sealedreg still names the old key
        old_keys = load_keys(keys_dir / "acme.test.key")
        out = cli("keygen", "--rotate", "--name", "acme.test", "--keys", str(keys_dir), *ra.args()).stdout
        assert "re-sealed acme.test" in out
        rotated = json.loads(cli("publish", "acme.test", "--print", *ra.args()).stdout)
        assert rotated["seq"] == first["seq"] + 1
        new_sig = load_keys(keys_dir / "acme.test.key").public.sig_text
        assert new_sig != old_keys.public.sig_text
        point_dnslink(knot, "acme.test", f"/ipfs/{rotated['root']}")

        def followed() -> bool:
            get(b, "/v2/acme.test/app/tags/list")  # RB mounts the tree DNS names now
            # `resolve` reads RB's index: once RB followed, it trusts the new key outright
            view = json.loads(cli("resolve", "acme.test", *rb.args(), "--json").stdout)
            return view.get("signer") == new_sig and "rotated_from" not in view

        wait_for("RB to follow the rotation", followed)
        assert pulled_digests(sb, f"docker://{b.address}/acme.test/app:1", tmp / "app-2") == pushed_digests(app)
        # whoever kept the old key signs a newer-looking tree with it alone: refused
        stale = forged_tree(ka, "acme.test", old_keys, rotated["seq"] + 10, int(time.time()) + 3600)
        point_dnslink(knot, "acme.test", f"/ipfs/{stale}")
        wait_for("RB to refuse the tree signed by the old key alone",
                 lambda: "rotated away from" in get(b, "/v2/acme.test/app/tags/list").text)
        # the publisher publishes properly (both records) and everything is back
        current = json.loads(cli("publish", "acme.test", "--force", *ra.args()).stdout)
        assert new_sig in current["records"]["_sealedreg.acme.test"][0]
        wait_for("RB to pull again", lambda: tags(b, "acme.test/app") == ["1"])

        # revoked: what is sealed from now on, the partner cannot open
        cli("revoke", *ra.args(), "--recipient", "partner.test", "acme.test/app")
        revoked = json.loads(cli("publish", "acme.test", *ra.args()).stdout)
        assert revoked["seq"] > current["seq"]
        wait_for("RB to lose the revoked repository",
                 lambda: get(b, "/v2/acme.test/app/tags/list").status_code == 404)
        after = json.loads(cli("resolve", "acme.test", *rb.args(), "--json").stdout)
        assert after["verified"] and after["private"] == [] and after["sealed"] == 1
