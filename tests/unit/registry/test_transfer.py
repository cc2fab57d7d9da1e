"""CAR import refuses anything a push would not have produced, and is all or nothing."""

import asyncio
import hashlib
import json

import pytest

from sealedreg.crypto.convergent import derive_key, encrypt
from sealedreg.protected_files import create_secret, load_secret
from sealedreg.datadir import DataDir
from sealedreg.registry.digests import Digest
from sealedreg.registry.domains import Domains
from sealedreg.registry.index import Index
from sealedreg.registry.service import Registry
from sealedreg.registry.transfer import TransferError, export_image, import_car
from sealedreg.registry.uploads import Uploads
from sealedreg.storage.car import CarWriter
from sealedreg.storage.cid import CID, RAW
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.unixfs import build_file, chunked

LAYER = bytes(range(256)) * 5000
CONFIG = b'{"architecture":"amd64","os":"linux"}'


def make_registry(root, secrets=None) -> Registry:
    d = DataDir(root)
    d.prepare()
    return Registry(Index(d.index), Uploads(d), EmbeddedStore(d.blocks, d.tmp, durable=False), Domains(secrets))


async def push_blob(reg, repo, data):
    s = await reg.start_upload(repo)

    async def body():
        yield data

    return await reg.commit_upload(repo, s.id, Digest.of(data), body())


async def push_image(reg, repo="example.com/app"):
    cfg = await push_blob(reg, repo, CONFIG)
    layer = await push_blob(reg, repo, LAYER)
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cfg.digest, "size": len(CONFIG)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": layer.digest, "size": len(LAYER)}]}).encode()
    await reg.put_manifest(repo, "1.0", manifest, "application/vnd.oci.image.manifest.v1+json")
    return manifest


@pytest.fixture
def exported(tmp_path):
    reg = make_registry(tmp_path / "a")

    async def go():
        await push_image(reg)
        return await export_image(reg, "example.com/app", "1.0", tmp_path / "app.car")

    summary = asyncio.run(go())
    return tmp_path / "app.car", summary


def visible(reg, repo="example.com/app"):
    return asyncio.run(reg.index.repo_exists(repo))


def test_round_trip(tmp_path, exported):
    car, summary = exported
    reg = make_registry(tmp_path / "b")
    asyncio.run(import_car(reg, car))
    stored = asyncio.run(reg.get_manifest("example.com/app", "1.0"))
    assert stored.record.digest == summary["digest"]


def rewrite(car_path, out, change):
    """Re-pack a CAR after `change(index, blocks)` edits the index and the block list."""
    from sealedreg.storage.car import read_car

    with open(car_path, "rb") as f:
        roots, blocks = read_car(f)
        blocks = list(blocks)
    index = json.loads(dict(blocks)[roots[0]])
    blocks = [(c, b) for c, b in blocks if c != roots[0]]
    blocks = change(index, blocks)
    block = json.dumps(index).encode()
    root = CID.of(block, RAW)
    with open(out, "wb") as f:
        w = CarWriter(f, [root])
        w.add(root, block)
        for c, b in blocks:
            w.add(c, b)
    return out


def test_non_canonical_dag_is_refused(tmp_path, exported):
    car, _ = exported
    digest = "sha256:" + hashlib.sha256(LAYER).hexdigest()
    ct = encrypt(LAYER, derive_key(digest))
    extra = []
    odd = build_file(chunked(ct, 300_000), lambda c, b: extra.append((c, b)))  # not 1 MiB leaves

    def change(index, blocks):
        for b in index["blobs"]:
            if b["digest"] == digest:
                b["cid"] = str(odd.cid)
        return blocks + extra

    bad = rewrite(car, tmp_path / "odd.car", change)
    reg = make_registry(tmp_path / "b")
    with pytest.raises(TransferError, match="not the canonical DAG"):
        asyncio.run(import_car(reg, bad))
    assert not visible(reg)


def test_global_content_cannot_land_in_an_org_domain(tmp_path, exported):
    car, _ = exported
    create_secret(tmp_path / "org.secret")
    reg = make_registry(tmp_path / "b", {"example.com": load_secret(tmp_path / "org.secret")})
    with pytest.raises(TransferError, match="global domain"):
        asyncio.run(import_car(reg, car))
    assert not visible(reg)


def test_a_bad_manifest_leaves_nothing_visible(tmp_path, exported):
    car, _ = exported

    def change(index, blocks):
        index["manifests"][0]["mediaType"] = "application/vnd.oci.image.index.v1+json"
        return blocks

    bad = rewrite(car, tmp_path / "bad.car", change)
    reg = make_registry(tmp_path / "b")
    with pytest.raises(TransferError):
        asyncio.run(import_car(reg, bad))
    assert not visible(reg)


def test_wrong_digest_claim_is_refused(tmp_path, exported):
    car, _ = exported

    def change(index, blocks):
        index["blobs"][0]["size"] += 1
        return blocks

    bad = rewrite(car, tmp_path / "size.car", change)
    reg = make_registry(tmp_path / "b")
    with pytest.raises(TransferError):
        asyncio.run(import_car(reg, bad))
    assert not visible(reg)


@pytest.mark.parametrize("mutate", [
    lambda i: i.update(v="sealedreg-car/v9"),
    lambda i: i.update(repository="../etc"),
    lambda i: i.update(tag="..bad"),
    lambda i: i.update(digest="sha256:" + "0" * 64),
    lambda i: i["blobs"][0].update(cid="QmNotACid"),
    lambda i: i["blobs"][0].update(domain="elsewhere"),
])
def test_malformed_index_is_refused(tmp_path, exported, mutate):
    car, _ = exported

    def change(index, blocks):
        mutate(index)
        return blocks

    bad = rewrite(car, tmp_path / "m.car", change)
    reg = make_registry(tmp_path / "b")
    with pytest.raises(TransferError):
        asyncio.run(import_car(reg, bad))
