import time

import pytest
from starlette.testclient import TestClient

from sealedreg.config import Config
from tests.unit.api.conftest import app_for, push_blob, sha256


def start(client, repo="a"):
    r = client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    assert r.headers["range"] == "0-0"
    assert r.headers["location"].startswith(f"/v2/{repo}/blobs/uploads/")
    return r.headers["location"]


def test_streamed_patch_then_put(client):
    data = b"0123456789" * 1000
    loc = start(client)
    r = client.patch(loc, content=iter([data[:3000], data[3000:]]))  # chunked transfer, no Content-Range
    assert r.status_code == 202
    assert r.headers["range"] == f"0-{len(data) - 1}"
    r = client.put(f"{loc}?digest={sha256(data)}")
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/a/blobs/{sha256(data)}"
    assert client.get(f"/v2/a/blobs/{sha256(data)}").content == data


def test_chunked_with_content_range(client):
    data = b"abcdefghij"
    loc = start(client)
    r = client.patch(loc, content=data[:4], headers={"Content-Range": "0-3", "Content-Type": "application/octet-stream"})
    assert r.status_code == 202 and r.headers["range"] == "0-3"
    r = client.get(loc)
    assert r.status_code == 204 and r.headers["range"] == "0-3"
    # repeated chunk and a gap are both out of order; the 416 says where the session is
    r = client.patch(loc, content=data[:4], headers={"Content-Range": "0-3"})
    assert r.status_code == 416 and r.headers["range"] == "0-3" and r.headers["location"] == loc
    assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
    assert client.patch(loc, content=data[6:8], headers={"Content-Range": "6-7"}).status_code == 416
    r = client.patch(loc, content=data[4:8], headers={"Content-Range": "4-7"})
    assert r.headers["range"] == "0-7"
    r = client.put(f"{loc}?digest={sha256(data)}", content=data[8:], headers={"Content-Range": "8-9"})
    assert r.status_code == 201
    assert client.get(f"/v2/a/blobs/{sha256(data)}").content == data


def test_content_range_must_match_length(client):
    loc = start(client)
    r = client.patch(loc, content=b"abc", headers={"Content-Range": "0-9"})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == "SIZE_INVALID"
    r = client.patch(loc, content=b"abc", headers={"Content-Range": "zero-two"})
    assert r.status_code == 416
    assert client.get(loc).headers["range"] == "0-0"


def test_digest_mismatch_stores_nothing(client, tmp_path):
    loc = start(client)
    client.patch(loc, content=b"real bytes")
    r = client.put(f"{loc}?digest={sha256(b'other bytes')}")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert client.head(f"/v2/a/blobs/{sha256(b'real bytes')}").status_code == 404
    assert client.head(f"/v2/a/blobs/{sha256(b'other bytes')}").status_code == 404
    assert not any((tmp_path / "data" / "blocks").rglob("*/*"))
    assert list((tmp_path / "data" / "uploads").iterdir()) == []


def test_monolithic_mismatch(client):
    r = client.post(f"/v2/a/blobs/uploads/?digest={sha256(b'x')}", content=b"y")
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_put_without_digest(client):
    loc = start(client)
    r = client.put(loc)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_unknown_session(client):
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        r = client.request(method, "/v2/a/blobs/uploads/" + "0" * 32 + ("?digest=" + sha256(b"") if method == "PUT" else ""))
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"


def test_session_belongs_to_its_repository(client):
    loc = start(client, "a")
    other = loc.replace("/v2/a/", "/v2/b/")
    assert client.get(other).status_code == 404


def test_cancel(client):
    loc = start(client)
    assert client.delete(loc).status_code == 204
    assert client.get(loc).status_code == 404


def test_empty_blob(client):
    loc = start(client)
    r = client.put(f"{loc}?digest={sha256(b'')}")
    assert r.status_code == 201
    r = client.get(f"/v2/a/blobs/{sha256(b'')}")
    assert r.status_code == 200 and r.content == b""


def test_mount(client):
    d = push_blob(client, "src", b"shared")
    r = client.post(f"/v2/dst/blobs/uploads/?mount={d}&from=src")
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/dst/blobs/{d}"
    assert client.get(f"/v2/dst/blobs/{d}").content == b"shared"
    # not in `from`, or no `from`: the registry finds it itself (automatic content discovery)
    for i, query in enumerate((f"mount={d}&from=nowhere", f"mount={d}", f"mount={d}&from=..%2Fx",
                               f"mount={d}&from=")):
        r = client.post(f"/v2/found{i}/blobs/uploads/?{query}")
        assert r.status_code == 201, query
        assert client.get(f"/v2/found{i}/blobs/{d}").content == b"shared"
    for bad in ("mount=sha256:nope&from=src", f"mount={sha256(b'elsewhere')}&from=src",
                f"mount={sha256(b'elsewhere')}"):
        r = client.post(f"/v2/dst3/blobs/uploads/?{bad}")
        assert r.status_code == 202, bad  # never an error: a fresh session instead


def test_mount_without_discovery(tmp_path):
    with TestClient(app_for(Config(data=tmp_path / "data", durable=False, auto_mount=False))) as c:
        d = push_blob(c, "src", b"shared")
        for query in (f"mount={d}&from=nowhere", f"mount={d}", f"mount={d}&from=..%2Fx"):
            r = c.post(f"/v2/dst/blobs/uploads/?{query}")
            assert r.status_code == 202, query  # a `from` without the blob, or none: a new session
        assert c.post(f"/v2/dst/blobs/uploads/?mount={d}&from=src").status_code == 201


def test_mount_never_crosses_dedupe_domains(org_client):
    d = push_blob(org_client, "public/base", b"base layer")
    r = org_client.post(f"/v2/org.example/app/blobs/uploads/?mount={d}&from=public/base")
    assert r.status_code == 202  # the org domain has no copy yet: the client uploads
    push_blob(org_client, "org.example/app", b"base layer")
    r = org_client.post(f"/v2/org.example/other/blobs/uploads/?mount={d}&from=public/base")
    assert r.status_code == 201  # now this domain has its own copy
    assert org_client.get(f"/v2/org.example/other/blobs/{d}").content == b"base layer"


# -- acknowledged, then encrypted (docs/format.md §2) ----------------------------
@pytest.fixture
def landing_client(tmp_path):
    config = Config(data=tmp_path / "data", durable=False, background_encryption_min=0)  # every blob
    with TestClient(app_for(config)) as c:
        yield c


def _stored(client) -> None:
    registry = client.app.state.registry
    for _ in range(500):
        if not len(registry.landings):
            return
        time.sleep(0.01)  # polling: the landing runs on the app's loop, in the background
    raise AssertionError("the blob never landed")


def test_a_monolithic_push_is_acknowledged_then_served_whole_and_ranged(landing_client):
    data = bytes(range(256)) * 5000
    digest = push_blob(landing_client, "x.org/app", data)
    head = landing_client.head(f"/v2/x.org/app/blobs/{digest}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert landing_client.get(f"/v2/x.org/app/blobs/{digest}").content == data
    ranged = landing_client.get(f"/v2/x.org/app/blobs/{digest}", headers={"Range": "bytes=1000-1099"})
    assert ranged.status_code == 206 and ranged.content == data[1000:1100]
    _stored(landing_client)
    assert not list((landing_client.app.state.config.data / "uploads").iterdir())


def test_a_committed_session_answers_no_more_requests(landing_client):
    data = b"z" * 70_000
    digest = sha256(data)
    where = landing_client.post("/v2/x.org/app/blobs/uploads/").headers["location"]
    where = landing_client.patch(where, content=data).headers["location"]
    assert landing_client.put(where, params={"digest": digest}).status_code == 201
    for method, kwargs in (("PATCH", {"content": b"more"}), ("GET", {}), ("DELETE", {}),
                           ("PUT", {"params": {"digest": digest}})):
        r = landing_client.request(method, where, **kwargs)
        assert r.status_code == 404 and r.json()["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN", (method, r.text)
    _stored(landing_client)
    assert landing_client.get(f"/v2/x.org/app/blobs/{digest}").content == data
