import pytest

from tests.unit.api.conftest import push_blob, push_image


def test_tags_pagination(client):
    digest, body = push_image(client, "a", "t0")
    for i in range(1, 5):
        client.put(f"/v2/a/manifests/t{i}", content=body, headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    r = client.get("/v2/a/tags/list?n=2")
    assert r.json() == {"name": "a", "tags": ["t0", "t1"]}
    assert r.headers["link"] == '</v2/a/tags/list?n=2&last=t1>; rel="next"'
    r = client.get("/v2/a/tags/list?n=2&last=t1")
    assert r.json()["tags"] == ["t2", "t3"]
    r = client.get("/v2/a/tags/list?n=2&last=t3")
    assert r.json()["tags"] == ["t4"] and "link" not in r.headers
    assert client.get("/v2/a/tags/list?n=0").json()["tags"] == []
    assert client.get("/v2/a/tags/list?n=-1").status_code == 400


def test_tags_of_unknown_repo(client):
    r = client.get("/v2/nope/tags/list")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_catalog(client):
    for repo in ("b", "a", "c/d"):
        push_blob(client, repo, b"x")
    r = client.get("/v2/_catalog")
    assert r.json() == {"repositories": ["a", "b", "c/d"]}
    r = client.get("/v2/_catalog?n=1")
    assert r.json() == {"repositories": ["a"]}
    assert r.headers["link"] == '</v2/_catalog?n=1&last=a>; rel="next"'
    assert client.get("/v2/_catalog?n=5&last=a").json() == {"repositories": ["b", "c/d"]}


def test_version_check_and_errors(client):
    r = client.get("/v2/")
    assert r.status_code == 200 and r.headers["docker-distribution-api-version"] == "registry/2.0"
    r = client.post("/v2/a/tags/list")
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
    r = client.get("/v2/a/nothing-here")
    assert r.status_code == 404


@pytest.mark.parametrize("method,path,allowed", [
    ("OPTIONS", "/v2/a/manifests/latest", "DELETE, GET, HEAD, PUT"),
    ("POST", "/v2/a/b/blobs/uploads/" + "0" * 32, "DELETE, GET, HEAD, PATCH, PUT"),
    ("PATCH", "/v2/a/blobs/sha256:" + "0" * 64, "DELETE, GET, HEAD"),
    ("PUT", "/v2/a/blobs/uploads/", "POST"),
    ("TRACE", "/v2/", "GET, HEAD"),
    ("DELETE", "/ui/r/a/b", "GET, HEAD"),
])
def test_a_405_names_every_method_of_the_path_in_allow(client, method, path, allowed):
    # schemathesis finding: a 405 had no `Allow` (RFC 9110 §15.5.6 requires it), and
    # Starlette's own names only the first route's methods, one of several per path
    r = client.request(method, path)
    assert r.status_code == 405 and r.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert r.headers["allow"] == allowed
    assert client.head("/v2/a/tags/list").status_code != 405
    assert client.request("HEAD", "/v2/_catalog").headers.get("allow") is None
