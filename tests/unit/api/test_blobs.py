from starlette.testclient import TestClient

from sealedreg.config import Config
from tests.unit.api.conftest import app_for, image_manifest, push_blob, sha256


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


def test_head_finds_a_blob_another_repository_holds(client):
    """Automatic content discovery (docs/api.md "Blobs another repository
    holds"): a pusher's HEAD links the blob instead of having it re-sent."""
    d = push_blob(client, "one", b"shared layer")
    r = client.head(f"/v2/two/blobs/{d}")
    assert r.status_code == 200 and r.headers["content-length"] == str(len(b"shared layer"))
    assert client.get(f"/v2/two/blobs/{d}").content == b"shared layer"  # linked, not just answered
    config = b'{"architecture":"amd64","os":"linux"}'
    cd = push_blob(client, "two", config)
    body = image_manifest(cd, len(config), [(d, len(b"shared layer"))])
    r = client.put("/v2/two/manifests/v1", content=body,
                   headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    # a GET never links: only a pusher's HEAD does
    r = client.get(f"/v2/three/blobs/{d}")
    assert r.status_code == 404


def test_a_deleted_blob_stays_deleted(client):
    d = push_blob(client, "one", b"kept elsewhere")
    assert client.head(f"/v2/two/blobs/{d}").status_code == 200
    assert client.delete(f"/v2/two/blobs/{d}").status_code == 202
    assert client.head(f"/v2/two/blobs/{d}").status_code == 404  # not found again in "one"
    assert client.post(f"/v2/two/blobs/uploads/?mount={d}").status_code == 202
    assert client.head(f"/v2/three/blobs/{d}").status_code == 200  # other repositories are unaffected
    # a mount naming its source, or a push, puts it back, and discovery works again after the next delete
    assert client.post(f"/v2/two/blobs/uploads/?mount={d}&from=one").status_code == 201
    assert client.head(f"/v2/two/blobs/{d}").status_code == 200
    assert client.delete(f"/v2/two/blobs/{d}").status_code == 202
    push_blob(client, "two", b"kept elsewhere")
    assert client.delete(f"/v2/two/blobs/{d}").status_code == 202
    assert client.head(f"/v2/two/blobs/{d}").status_code == 404


def test_head_discovery_stays_in_the_dedupe_domain(org_client):
    d = push_blob(org_client, "public/base", b"base layer")
    assert org_client.head(f"/v2/org.example/app/blobs/{d}").status_code == 404  # other domain: upload it
    push_blob(org_client, "org.example/app", b"base layer")
    assert org_client.head(f"/v2/org.example/other/blobs/{d}").status_code == 200


def test_head_discovery_can_be_turned_off(tmp_path):
    with TestClient(app_for(Config(data=tmp_path / "data", durable=False, auto_mount=False))) as c:
        d = push_blob(c, "one", b"x")
        assert c.head(f"/v2/two/blobs/{d}").status_code == 404


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
