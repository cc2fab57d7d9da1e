"""The trustless gateway serves only live blocks, verifiably."""

import io

from sealedreg.storage.car import read_car
from sealedreg.storage.cid import CID
from tests.unit.api.conftest import push_blob


def layer_cid(client, tmp_path, repo, digest):
    import asyncio

    from sealedreg.registry.index import Index

    index = Index(tmp_path / "data" / "index.sqlite", readonly=True)
    try:
        return asyncio.run(index.repo_blob(repo, digest)).content_id
    finally:
        index.close()


def test_raw_and_car(client, tmp_path):
    data = bytes(range(256)) * 9000  # > 2 chunks: a DAG with a root node and leaves
    d = push_blob(client, "a", data)
    root = layer_cid(client, tmp_path, "a", d)
    r = client.get(f"/ipfs/{root}?format=raw")
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.ipld.raw"
    assert r.headers["content-disposition"].startswith("attachment")
    assert CID.parse(root).verify(r.content)
    r = client.get(f"/ipfs/{root}", headers={"Accept": "application/vnd.ipld.car"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.ipld.car")
    roots, blocks = read_car(io.BytesIO(r.content))  # read_car verifies every block
    blocks = list(blocks)
    assert [str(c) for c in roots] == [root] and str(blocks[0][0]) == root and len(blocks) == 4
    leaf = str(blocks[1][0])
    assert client.get(f"/ipfs/{leaf}?format=raw").status_code == 200
    assert client.head(f"/ipfs/{leaf}?format=raw").headers["content-length"] == str(len(blocks[1][1]))


def test_refusals(client):
    assert client.get("/ipfs/not-a-cid?format=raw").status_code == 400
    assert client.get("/ipfs/../../index.sqlite?format=raw").status_code in (400, 404)
    unknown = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    assert client.get(f"/ipfs/{unknown}?format=raw").status_code == 404
    assert client.get(f"/ipfs/{unknown}").status_code == 406
    assert client.get(f"/ipfs/{unknown}?format=tar").status_code == 406


def test_deleted_content_is_not_served(client, tmp_path):
    d = push_blob(client, "a", b"to be forgotten")
    root = layer_cid(client, tmp_path, "a", d)
    assert client.get(f"/ipfs/{root}?format=raw").status_code == 200
    assert client.delete(f"/v2/a/blobs/{d}").status_code == 202
    assert client.get(f"/ipfs/{root}?format=raw").status_code == 404
    # an orphaned block on disk (no index entry) is never served
    orphan = tmp_path / "data" / "blocks" / "zz"
    orphan.mkdir(parents=True, exist_ok=True)
    from sealedreg.storage.cid import RAW

    c = CID.of(b"orphan", RAW)
    (orphan / str(c)).write_bytes(b"orphan")
    assert client.get(f"/ipfs/{c}?format=raw").status_code == 404


def test_a_cidv0_request_gets_its_own_cid_as_the_car_root(client, tmp_path):
    d = push_blob(client, "a", bytes(range(256)) * 9000)
    root = CID.parse(layer_cid(client, tmp_path, "a", d))
    v0 = CID(0, root.codec, root.digest)
    assert str(v0).startswith("Qm")
    r = client.get(f"/ipfs/{v0}?format=car")
    roots, blocks = read_car(io.BytesIO(r.content))
    assert r.status_code == 200 and roots == [v0] and str(next(blocks)[0]) == str(root)
    assert r.headers["x-ipfs-roots"] == str(root)
