"""Private repositories end to end: keys, sealed envelopes in the namespace
tree, grant / open / revoke with the CLI, and a privacy scan of everything
the registry would publish."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sealedreg.crypto.convergent import decrypt
from sealedreg.crypto.keys import kid
from sealedreg.publish.keyfiles import load_keys, load_public
from sealedreg.publish.layout import v1_envelope_id
from sealedreg.publish.reader import TreeReader
from sealedreg.storage.cid import CID
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.unixfs import leaf_spans
from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration

MARKER = "PRIVATE-MARKER-91c2"


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True, cwd=REPO_ROOT)
    if check:
        assert p.returncode == 0, p.stderr
    return p


class Tree:
    """The package's tree reader on a (stopped) registry's embedded store, driven synchronously."""

    def __init__(self, data: Path, root: str, namespace: str = "example.com", publisher: Path | None = None) -> None:
        self.store = EmbeddedStore(data / "blocks", data / "tmp")
        self.reader = TreeReader(self.store.get_block, root, namespace)
        if publisher is not None:  # private repositories are found only once the descriptor verified
            asyncio.run(self.reader.descriptor(load_public(publisher).sig))

    def get(self, cid: CID) -> bytes:
        return self.store.blocks.get(cid)

    def walk(self):
        async def collect():
            return [(node.path, node.cid, node.block) async for node in self.reader.walk()]
        return asyncio.run(collect())

    def file(self, path: str) -> bytes:
        return asyncio.run(self.reader.file(path))

    def envelope(self, repo: str, key: Path) -> bytes:
        """The envelope of `repo`, found through the index of the org whose `key` file is given."""
        return asyncio.run(self.reader.envelope(repo, load_keys(key)))


@pytest.fixture
def org(tmp_path):
    keys = tmp_path / "keys"
    cli("keygen", "--name", "example.com", "--keys", str(keys))
    cli("keygen", "--name", "partner.org", "--keys", str(keys))
    cli("keygen", "--name", "stranger.net", "--keys", str(keys))
    cli("org-secret", str(tmp_path / "example.com.secret"))
    cfg = tmp_path / "sealedreg.toml"
    cfg.write_text('[namespaces."example.com"]\norg_secret = "example.com.secret"\nkeys = "keys/example.com.key"\n'
                   'private = ["secret-*"]\n')
    return tmp_path, keys, cfg


def test_private_repository_lifecycle(tmp_path, org):
    root, keys, cfg = org
    private_repo = f"example.com/secret-{MARKER.lower()}"
    secret_tag = f"tag-{MARKER.lower()}"
    priv = write_image(tmp_path / "priv", layers=[1_500_000], compresslevel=0, marker=MARKER, seed=5, tag="t")
    pub = write_image(tmp_path / "pub", layers=[300_000], compresslevel=0, seed=6, tag="t")
    data = tmp_path / "data"
    with run_registry(data, ["--config", str(cfg)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{priv.path}:t",
                  f"docker://{srv.address}/{private_repo}:{secret_tag}", debug=False)
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{pub.path}:t",
                  f"docker://{srv.address}/example.com/public:1.0", debug=False)
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{priv.path}:t",
                  f"docker://{srv.address}/other.org/copy:1.0", debug=False)  # the same layer, global domain
    first = json.loads(cli("publish", "--data", str(data), "--config", str(cfg), "example.com").stdout)
    out = cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"),
              private_repo).stdout
    assert "granted partner.org" in out
    kids = cli("grants", "--data", str(data), "--config", str(cfg), private_repo).stdout.split()
    assert len(kids) == 2
    state = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg),
                           f"{private_repo}:{secret_tag}").stdout)
    granted_root = state["tree"]["root"]
    assert state["tree"]["seq"] == first["seq"] + 1

    tree = Tree(data, granted_root, publisher=keys / "example.com.pub")
    envelope = tmp_path / "envelope.json"
    envelope.write_bytes(tree.envelope(private_repo, keys / "partner.org.key"))

    # the partner opens it and decrypts the private layer to the exact pushed bytes
    opened = json.loads(cli("open", "--key", str(keys / "partner.org.key"), "--publisher",
                            str(keys / "example.com.pub"), "--repo", private_repo, str(envelope)).stdout)
    assert opened["tags"] == {secret_tag: priv.manifest_digest}
    assert base64.b64decode(opened["manifests"][priv.manifest_digest]["data"]) == priv.manifest_bytes
    layer = opened["layers"][priv.layer_digests[0]]
    assert layer["domain"] == "org"
    root_cid = CID.parse(layer["cid"])
    ciphertext = b"".join(tree.get(s.cid)[s.start:s.end] for s in leaf_spans(tree.get, root_cid, 0,
                                                                               layer["size"] + 16 * 2))
    assert decrypt(ciphertext, base64.b64decode(layer["key"])) == priv.blob_path(priv.layer_digests[0]).read_bytes()

    # with the org secret, the private layer's CID is not the one the same layer has in the global domain
    other = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), "other.org/copy:1.0").stdout)
    (global_layer,) = [b for b in other["blobs"] if b["digest"] == priv.layer_digests[0]]
    assert global_layer["domain"] == "global" and global_layer["cid"] != layer["cid"]

    # a non-recipient cannot open it
    p = cli("open", "--key", str(keys / "stranger.net.key"), "--publisher", str(keys / "example.com.pub"),
            "--repo", private_repo, str(envelope), check=False)
    assert p.returncode != 0 and "not a recipient" in p.stderr
    # a forged publisher is refused
    p = cli("open", "--key", str(keys / "partner.org.key"), "--publisher", str(keys / "stranger.net.pub"),
            "--repo", private_repo, str(envelope), check=False)
    assert p.returncode != 0 and "publisher" in p.stderr
    # an old envelope is refused once a newer one has been seen
    p = cli("open", "--key", str(keys / "partner.org.key"), "--publisher", str(keys / "example.com.pub"),
            "--repo", private_repo, "--min-seq", str(state["tree"]["seq"] + 1), str(envelope), check=False)
    assert p.returncode != 0 and "rollback" in p.stderr

    # revoked: what is sealed afterwards, the partner cannot open
    cli("revoke", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"),
        private_repo)
    revoked = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg),
                             f"{private_repo}:{secret_tag}").stdout)["tree"]
    assert revoked["seq"] == state["tree"]["seq"] + 1
    after = tmp_path / "after.json"
    revoked_tree = Tree(data, revoked["root"], publisher=keys / "example.com.pub")
    after.write_bytes(revoked_tree.envelope(private_repo, keys / "example.com.key"))
    with pytest.raises(LookupError):  # the revoked partner's index no longer lists it
        revoked_tree.envelope(private_repo, keys / "partner.org.key")
    p = cli("open", "--key", str(keys / "partner.org.key"), "--publisher", str(keys / "example.com.pub"),
            "--repo", private_repo, str(after), check=False)
    assert p.returncode != 0 and "not a recipient" in p.stderr
    assert cli("grants", "--data", str(data), "--config", str(cfg), private_repo).stdout.split() == kids[:1]

    # the privacy scan: every block of every tree published, every DNS record, every recipient's
    # public key — and every function of public data that v1 exposed
    secrets = [MARKER, MARKER.lower(), private_repo, "secret-", secret_tag, priv.manifest_digest,
               priv.manifest_digest.split(":")[1], priv.layer_digests[0].split(":")[1],
               priv.config_digest.split(":")[1], layer["key"],
               base64.b64decode(layer["key"]).hex()]
    secret_bytes = [s.encode() for s in secrets] + [priv.manifest_bytes, priv.config_bytes,
                                                    base64.b64decode(layer["key"])]
    walked = privacy_scan(data, keys, [first["root"], granted_root, revoked["root"]], private_repo, secret_bytes)
    assert walked > 10
    # the public repository is in the clear, by design
    assert Tree(data, revoked["root"]).file("repos/example.com/public/tags/1.0").decode() == pub.manifest_digest


ORGS = ("example.com", "partner.org", "stranger.net", "third.org")


def public_record(keys: Path, org: str) -> str:
    pub = json.loads((keys / f"{org}.pub").read_text())
    return f'v=sealedreg1; sig={pub["sig"]}; box={pub["box"]}'


def privacy_scan(data: Path, keys: Path, roots: list[str], private_repo: str, secret_bytes: list[bytes]) -> int:
    """Walk every block of every tree in `roots` and look for the secrets and
    for everything an outsider could compute from public data — the DNS
    records and every organisation's public keys — that v1 exposed: the v1
    envelope name of the repository, the kid of every key, and the recipients'
    keys themselves. Returns how many blocks were read."""
    computable = [v1_envelope_id("example.com", private_repo).encode()]
    for org in ORGS:
        if not (keys / f"{org}.pub").exists():
            continue
        box = load_public(keys / f"{org}.pub").box
        computable += [kid(bytes(box)).encode(), kid(bytes(box))[:8].encode()]
        if org != "example.com":  # the publisher's own keys are in its descriptor, by design
            computable += [bytes(box), base64.b64encode(bytes(box)), json.loads((keys / f"{org}.pub").read_text())
                           ["sig"].encode()]
    records = [public_record(keys, org) for org in ORGS if (keys / f"{org}.pub").exists()]
    walked = 0
    for root_text in roots:
        for path, cid, block in Tree(data, root_text).walk():
            walked += 1
            for needle in secret_bytes + computable:
                assert needle not in block, f"{needle[:40]!r} in block {cid} at {path}"
                assert needle not in path.encode(), f"{needle[:40]!r} in the path {path}"
    for record in records:
        for needle in secret_bytes:
            assert needle not in record.encode()
    return walked


def push_one(tmp_path: Path, cfg: Path, repo: str, seed: int):
    """A one-layer image pushed as `repo:1` to a registry that is stopped again; (image, data dir)."""
    img = write_image(tmp_path / "img", layers=[4000], compresslevel=0, seed=seed, tag="t")
    data = tmp_path / "data"
    with run_registry(data, ["--config", str(cfg)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t", f"docker://{srv.address}/{repo}:1",
                  debug=False)
    return img, data


def test_envelope_sizes_do_not_tell_how_many_recipients(tmp_path, org):
    """1 recipient (the organisation) and 3 (plus two partners) fall in one
    stanza bucket: the envelopes are the same size, and so is every index."""
    root, keys, cfg = org
    cli("keygen", "--name", "third.org", "--keys", str(keys))
    repo = "example.com/secret-count"
    img, data = push_one(tmp_path, cfg, repo, seed=51)
    alone = json.loads(cli("publish", "--data", str(data), "--config", str(cfg), "example.com").stdout)
    for partner in ("partner.org", "third.org"):
        cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / f"{partner}.pub"), repo)
    three = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), f"{repo}:1").stdout)["tree"]
    assert len(cli("grants", "--data", str(data), "--config", str(cfg), repo).stdout.split()) == 3
    sizes = {}
    for name, root_cid in (("alone", alone["root"]), ("three", three["root"])):
        tree = Tree(data, root_cid, publisher=keys / "example.com.pub")
        envelope = tree.envelope(repo, keys / "example.com.key")
        indexes = asyncio.run(tree.reader.names("sealed/index"))
        sizes[name] = (len(envelope), len(indexes),
                       {len(tree.file(f"sealed/index/{n}")) for n in indexes})
    assert sizes["alone"] == sizes["three"], sizes
    assert sizes["alone"][1] == 8  # the index count is padded to its bucket too
    privacy_scan(data, keys, [alone["root"], three["root"]], repo, [repo.encode(), img.manifest_digest.encode()])


def test_keygen_rotate_reseals_and_countersigns(tmp_path, org):
    root, keys, cfg = org
    repo = "example.com/secret-rotate"
    img, data = push_one(tmp_path, cfg, repo, seed=61)
    cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"), repo)
    before = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), f"{repo}:1").stdout)["tree"]
    old_pub = tmp_path / "old.pub"
    old_pub.write_bytes((keys / "example.com.pub").read_bytes())
    out = cli("keygen", "--rotate", "--name", "example.com", "--keys", str(keys), "--data", str(data),
              "--config", str(cfg)).stdout
    new_record = public_record(keys, "example.com")
    assert f'_sealedreg.example.com. IN TXT "{new_record}"' in out and "re-sealed example.com" in out
    assert load_public(old_pub).sig != load_public(keys / "example.com.pub").sig
    after = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), f"{repo}:1").stdout)["tree"]
    assert after["seq"] == before["seq"] + 1
    # a puller that trusts the old key follows it to the new one; the new key verifies it directly
    tree = Tree(data, after["root"])
    followed = asyncio.run(tree.reader.descriptor(load_public(old_pub).sig))
    assert followed.rotated_from == json.loads(old_pub.read_text())["sig"] and followed.signer == \
        json.loads((keys / "example.com.pub").read_text())["sig"]
    assert asyncio.run(tree.reader.descriptor(load_public(keys / "example.com.pub").sig)).rotated_from is None
    # the partner still opens it (sealed to its unchanged key, signed by the new one)
    opened = asyncio.run(tree.reader.open_private(repo, [load_keys(keys / "partner.org.key")]))
    assert opened is not None and opened.payload["tags"] == {"1": img.manifest_digest}
    # the old tree, signed by the old key only, does not verify under the new one
    from sealedreg.publish.descriptor import DescriptorError
    with pytest.raises(DescriptorError, match="expected publisher"):
        asyncio.run(Tree(data, before["root"]).reader.descriptor(load_public(keys / "example.com.pub").sig))
    # and the registry keeps serving with the rotated keys
    with run_registry(data, ["--config", str(cfg)]) as srv:
        import httpx
        assert httpx.get(f"{srv.url}/v2/{repo}/tags/list").json()["tags"] == ["1"]


def test_private_needs_keys_and_secret(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[namespaces."example.com"]\nprivate = ["*"]\n')
    p = cli("serve", "--config", str(cfg), "--data", str(tmp_path / "d"), check=False)
    assert p.returncode != 0 and "need both org_secret and keys" in p.stderr


def test_grant_refuses_public_repositories_and_bad_recipients(tmp_path, org):
    root, keys, cfg = org
    data = tmp_path / "data"
    with run_registry(data, ["--config", str(cfg)]):
        pass
    p = cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"),
            "example.com/public", check=False)
    assert p.returncode != 0 and "not a private repository" in p.stderr
    p = cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"),
            "example.com/secret-typo", check=False)
    assert p.returncode != 0 and "push to it first" in p.stderr
    for bad in ("x25519:short", "/nonexistent/x.pub"):
        p = cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", bad, "example.com/secret-a",
                check=False)
        assert p.returncode != 0 and "Traceback" not in p.stderr


def test_grant_by_domain_looks_the_key_up_in_dns(tmp_path, org):
    from tests.helpers.dns import run_dnsmasq

    root, keys, cfg = org
    partner = json.loads((keys / "partner.org.pub").read_text())
    record = f'v=sealedreg1; sig={partner["sig"]}; box={partner["box"]}'
    data = tmp_path / "data"
    img = write_image(tmp_path / "img", layers=[2000], compresslevel=0, seed=9, tag="t")
    with run_registry(data, ["--config", str(cfg)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t",
                  f"docker://{srv.address}/example.com/secret-x:1", debug=False)
    with run_dnsmasq(tmp_path, {"_sealedreg.partner.org": ["ipfsnode=/ip4/127.0.0.1/tcp/1", record]}) as ns:
        cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", "partner.org", "--dns-server", ns,
            "example.com/secret-x")
        p = cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", "nobody.org", "--dns-server", ns,
                "example.com/secret-x", check=False)
        assert p.returncode != 0 and "nobody.org" in p.stderr
    state = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), "example.com/secret-x:1").stdout)
    tree = Tree(data, state["tree"]["root"], publisher=keys / "example.com.pub")
    envelope = tmp_path / "env.json"
    envelope.write_bytes(tree.envelope("example.com/secret-x", keys / "partner.org.key"))
    opened = json.loads(cli("open", "--key", str(keys / "partner.org.key"), "--publisher",
                            str(keys / "example.com.pub"), "--repo", "example.com/secret-x", str(envelope)).stdout)
    assert opened["tags"] == {"1": img.manifest_digest}
    # and the namespace descriptor is signed by the organisation; the reader opens what was granted
    from sealedreg.publish.descriptor import DescriptorError

    org_key = load_public(keys / "example.com.pub").sig
    desc = asyncio.run(tree.reader.descriptor(org_key))
    assert desc["ns"] == "example.com" and desc["seq"] == state["tree"]["seq"]
    with pytest.raises(DescriptorError):
        asyncio.run(tree.reader.descriptor(load_public(keys / "partner.org.pub").sig))
    opened = asyncio.run(tree.reader.open_private("example.com/secret-x", [load_keys(keys / "partner.org.key")]))
    assert opened.payload["tags"] == {"1": img.manifest_digest}


def test_auto_layers_keep_public_base_layers_global(tmp_path, org):
    root, keys, cfg = org
    cfg.write_text(cfg.read_text() + 'layers = "auto"\n')
    base = write_image(tmp_path / "base", layers=[400_000], compresslevel=0, seed=21, tag="t")
    app = write_image(tmp_path / "app", layers=[400_000, 50_000], compresslevel=0, seed=21, tag="t")
    assert app.layer_digests[0] == base.layer_digests[0]
    data = tmp_path / "data"
    with run_registry(data, ["--config", str(cfg)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{base.path}:t",
                  f"docker://{srv.address}/example.com/base:1", debug=False)
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{app.path}:t",
                  f"docker://{srv.address}/example.com/secret-app:1", debug=False)
    doc = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), "example.com/secret-app:1").stdout)
    domains = {b["digest"]: b["domain"] for b in doc["blobs"]}
    assert domains[app.layer_digests[0]] == "global"  # the public base layer dedupes
    assert domains[app.layer_digests[1]] == "org"  # the private layer does not


def test_revoke_rotate_moves_future_layers_to_a_fresh_secret(tmp_path, org):
    root, keys, cfg = org
    first = write_image(tmp_path / "v1", layers=[5000], compresslevel=0, seed=31, tag="t")
    again = write_image(tmp_path / "v2", layers=[5000, 7000], compresslevel=0, seed=31, tag="t")
    assert first.layer_digests[0] == again.layer_digests[0]
    data = tmp_path / "data"
    repo = "example.com/secret-rot"
    with run_registry(data, ["--config", str(cfg)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{first.path}:t", f"docker://{srv.address}/{repo}:1",
                  debug=False)
        cli("grant", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"), repo)
        before = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), f"{repo}:1").stdout)
        out = cli("revoke", "--data", str(data), "--config", str(cfg), "--recipient", str(keys / "partner.org.pub"),
                  "--rotate", repo).stdout
        assert "rotated" in out
        secret_files = list((data / "secrets").iterdir())
        assert len(secret_files) == 1 and secret_files[0].stat().st_mode & 0o777 == 0o600
        # the running server pushes the repository's next layers under the fresh secret
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{again.path}:t", f"docker://{srv.address}/{repo}:2",
                  debug=False)
        after = json.loads(cli("inspect", "--data", str(data), "--config", str(cfg), f"{repo}:2").stdout)
        new_layer = {b["digest"]: b for b in after["blobs"]}[again.layer_digests[1]]
        assert new_layer["domain"] == "org"
        old = {b["digest"]: b for b in before["blobs"]}[first.layer_digests[0]]
        # and everything still pulls
        out = tmp_path / "pulled"
        sb.skopeo("copy", "--src-tls-verify=false", f"docker://{srv.address}/{repo}:2", f"dir:{out}", debug=False)
        assert (out / again.layer_digests[1].split(":")[1]).read_bytes() == \
            again.blob_path(again.layer_digests[1]).read_bytes()
    from sealedreg.crypto.convergent import derive_key, encrypt
    from sealedreg.protected_files import load_secret
    from sealedreg.storage.unixfs import chunked
    from tests.helpers.unixfs_vectors import file_cid

    layer = again.blob_path(again.layer_digests[1]).read_bytes()
    old_secret = load_secret(root / "example.com.secret")
    assert new_layer["cid"] != file_cid(chunked(encrypt(layer, derive_key(again.layer_digests[1], old_secret))))
    assert new_layer["cid"] == file_cid(chunked(encrypt(layer, derive_key(again.layer_digests[1],
                                                                          load_secret(secret_files[0])))))
    assert old["domain"] == "org"


def test_private_names_and_digests_never_reach_the_log(tmp_path, org):
    import httpx

    root, keys, cfg = org
    cfg.write_text("access_log = true\nlog_level = \"debug\"\n" + cfg.read_text())
    img = write_image(tmp_path / "img", layers=[3000], compresslevel=0, seed=41, tag="t")
    data = tmp_path / "data"
    repo = "example.com/secret-loggy"
    with run_registry(data, ["--config", str(cfg)]) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t", f"docker://{srv.address}/{repo}:hush-tag",
                  debug=False)
        assert httpx.get(f"{srv.url}/v2/{repo}/manifests/hush-missing").status_code == 404
        assert httpx.get(f"{srv.url}/v2/example.com/public/tags/list").status_code == 404
    log = srv.log.read_text()
    assert "GET /v2/" in log  # the access log is on …
    for secret in ("secret-loggy", "hush-tag", "hush-missing", img.manifest_digest.split(":")[1],
                   img.layer_digests[0].split(":")[1], img.config_digest.split(":")[1]):
        assert secret not in log, secret
    assert "/v2/example.com/public/tags/list" in log  # … and public names stay readable
