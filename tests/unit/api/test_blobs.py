from tests.unit.api.conftest import push_blob, sha256


def test_head_and_get(client):
    d = push_blob(client, "example.com/app", b"hello world")
    r = client.head(f"/v2/example.com/app/blobs/{d}")
    assert r.status_code == 200
    assert r.headers["content-length"] == "11"
    assert r.headers["docker-content-digest"] == d
    assert r.content == b""
    r = client.get(f"/v2/example.com/app/blobs/{d}")
    assert r.content == b"hello world"
    assert r.headers["accept-ranges"] == "bytes"


def test_ranges(client):
    data = bytes(range(256)) * 10
    d = push_blob(client, "r", data)
    r = client.get(f"/v2/r/blobs/{d}", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206
    assert r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert r.headers["content-length"] == "10"
    r = client.get(f"/v2/r/blobs/{d}", headers={"Range": "bytes=-5"})
    assert r.content == data[-5:]
    r = client.get(f"/v2/r/blobs/{d}", headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(data)}"


def test_blob_is_per_repository(client):
    d = push_blob(client, "one", b"x")
    r = client.get(f"/v2/two/blobs/{d}")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_unknown_blob_head_has_no_body(client):
    r = client.head("/v2/a/blobs/" + sha256(b"nope"))
    assert r.status_code == 404
    assert r.content == b""


def test_delete(client):
    d = push_blob(client, "a", b"bye")
    assert client.delete(f"/v2/a/blobs/{d}").status_code == 202
    assert client.head(f"/v2/a/blobs/{d}").status_code == 404
    r = client.delete(f"/v2/a/blobs/{d}")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_invalid_digest(client):
    r = client.get("/v2/a/blobs/sha256:zzz")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_sha512(client):
    import hashlib

    data = b"five-twelve"
    d = "sha512:" + hashlib.sha512(data).hexdigest()
    r = client.post(f"/v2/a/blobs/uploads/?digest={d}", content=data)
    assert r.status_code == 201
    assert client.get(f"/v2/a/blobs/{d}").content == data


def test_tampered_block_is_never_served(client, tmp_path):
    import pytest

    from sealedreg.crypto.convergent import PLAIN_CHUNK

    small = b"A" * 5000
    d = push_blob(client, "a", small)
    (block,) = [p for p in (tmp_path / "data" / "blocks").rglob("*") if p.is_file()]
    raw = bytearray(block.read_bytes())
    raw[100] ^= 1
    block.write_bytes(bytes(raw))
    for headers in ({}, {"Range": "bytes=10-20"}):  # caught before the first byte: a clean error
        r = client.get(f"/v2/a/blobs/{d}", headers=headers)
        assert r.status_code == 500 and b"AAAA" not in r.content
        assert r.json()["errors"][0]["code"] == "UNKNOWN"

    # Three chunks, the last one tampered: two pieces have gone out when it is
    # found, so the response is cut off short (the client sees an error).
    big = bytes(range(256)) * (2 * PLAIN_CHUNK // 256 + 100)
    before = {p for p in (tmp_path / "data" / "blocks").rglob("*") if p.is_file()}
    d = push_blob(client, "a", big)
    new = [p for p in (tmp_path / "data" / "blocks").rglob("*") if p.is_file() and p not in before]
    last = min((p for p in new if p.name.startswith("bafkrei")), key=lambda p: p.stat().st_size)
    raw = bytearray(last.read_bytes())
    raw[7] ^= 1
    last.write_bytes(bytes(raw))
    with pytest.raises(Exception):
        client.get(f"/v2/a/blobs/{d}")


def test_missing_domain_secret_is_a_json_error(tmp_path):
    """Content in an org domain whose secret left the config: clean JSON 500s, no bytes."""
    from starlette.testclient import TestClient

    from tests.unit.api.conftest import app_for
    from sealedreg.config import Config, NamespaceConfig
    from sealedreg.protected_files import create_secret

    secret = tmp_path / "org.secret"
    create_secret(secret)
    with_secret = Config(data=tmp_path / "data", durable=False,
                         namespaces={"org.example": NamespaceConfig(org_secret=secret)})
    with TestClient(app_for(with_secret)) as c:
        d = push_blob(c, "org.example/app", b"private layer")
    with TestClient(app_for(Config(data=tmp_path / "data", durable=False))) as c:
        for method in ("GET", "HEAD"):
            r = c.request(method, f"/v2/org.example/app/blobs/{d}")
            assert r.status_code == 500 and b"private layer" not in r.content
        assert c.get(f"/v2/org.example/app/blobs/{d}").json()["errors"][0]["code"] == "UNKNOWN"
