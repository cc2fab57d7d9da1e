import json

from tests.unit.api.conftest import image_manifest, push_blob, push_image, sha256

OCI = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"


def test_put_get_head_byte_exact(client):
    digest, body = push_image(client, "a", "1.0")
    assert digest == sha256(body)
    for ref in ("1.0", digest):
        r = client.get(f"/v2/a/manifests/{ref}")
        assert r.status_code == 200
        assert r.content == body
        assert r.headers["content-type"] == OCI
        assert r.headers["docker-content-digest"] == digest
        h = client.head(f"/v2/a/manifests/{ref}")
        assert h.headers["content-length"] == str(len(body)) and h.content == b""


def test_put_response_headers(client):
    digest, body = push_image(client, "a", "x")
    r = client.put(f"/v2/a/manifests/{digest}", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 201
    assert r.headers["location"] == f"/v2/a/manifests/{digest}"
    assert r.headers["docker-content-digest"] == digest


def test_missing_blobs_refused(client):
    body = image_manifest(sha256(b"cfg"), 3, [(sha256(b"l"), 1)])
    r = client.put("/v2/a/manifests/t", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 400
    err = r.json()["errors"][0]
    assert err["code"] == "MANIFEST_BLOB_UNKNOWN"
    assert client.get("/v2/a/manifests/t").status_code == 404


def test_index_requires_children(client):
    child, body = push_image(client, "a", "child")
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [
        {"mediaType": OCI, "digest": child, "size": len(body)}]}).encode()
    assert client.put("/v2/a/manifests/multi", content=index, headers={"Content-Type": INDEX}).status_code == 201
    r = client.put("/v2/b/manifests/multi", content=index, headers={"Content-Type": INDEX})
    assert r.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"


def test_docker_types(client):
    cfg = push_blob(client, "d", b"{}")
    layer = push_blob(client, "d", b"L")
    v2 = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                     "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "digest": cfg, "size": 2},
                     "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                 "digest": layer, "size": 1}]}).encode()
    r = client.put("/v2/d/manifests/v2", content=v2,
                   headers={"Content-Type": "application/vnd.docker.distribution.manifest.v2+json"})
    assert r.status_code == 201, r.text
    lst = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                      "manifests": [{"mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                                     "digest": sha256(v2), "size": len(v2),
                                     "platform": {"architecture": "amd64", "os": "linux"}}]}).encode()
    r = client.put("/v2/d/manifests/list", content=lst,
                   headers={"Content-Type": "application/vnd.docker.distribution.manifest.list.v2+json"})
    assert r.status_code == 201, r.text
    assert client.get("/v2/d/manifests/list").headers["content-type"].startswith(
        "application/vnd.docker.distribution.manifest.list.v2+json")


def test_invalid_manifests(client):
    cases = [b"not json", b"[]", b'{"schemaVersion": 1}', json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}).encode(),
             json.dumps({"schemaVersion": 2, "mediaType": OCI, "config": {"digest": "nope"}, "layers": []}).encode()]
    for body in cases:
        r = client.put("/v2/a/manifests/bad", content=body, headers={"Content-Type": OCI})
        assert r.status_code == 400, body
        assert r.json()["errors"][0]["code"] == "MANIFEST_INVALID", body


def test_content_type_must_match_media_type(client):
    _, body = push_image(client, "a", "t")
    r = client.put("/v2/a/manifests/t2", content=body, headers={"Content-Type": INDEX})
    assert r.json()["errors"][0]["code"] == "MANIFEST_INVALID"


def test_digest_reference_must_match(client):
    _, body = push_image(client, "a", "t")
    r = client.put(f"/v2/a/manifests/{sha256(b'other')}", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "DIGEST_INVALID"


def test_too_large(client):
    r = client.put("/v2/a/manifests/big", content=b" " * (4 * 1024 * 1024 + 1), headers={"Content-Type": OCI})
    assert r.status_code == 413


def test_tag_params(client):
    digest, body = push_image(client, "a", "first")
    r = client.put(f"/v2/a/manifests/{digest}?tag=x&tag=y", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 201
    assert r.headers.get_list("oci-tag") == ["x", "y"]
    assert client.get("/v2/a/tags/list").json()["tags"] == ["first", "x", "y"]
    r = client.put(f"/v2/a/manifests/{digest}?tag=..bad", content=body, headers={"Content-Type": OCI})
    assert r.status_code == 400


def test_delete_tag_and_manifest(client):
    digest, _ = push_image(client, "a", "t1")
    assert client.delete("/v2/a/manifests/t1").status_code == 202
    assert client.get("/v2/a/manifests/t1").status_code == 404
    assert client.get(f"/v2/a/manifests/{digest}").status_code == 200
    client.put(f"/v2/a/manifests/{digest}?tag=t2", content=client.get(f"/v2/a/manifests/{digest}").content,
               headers={"Content-Type": OCI})
    assert client.delete(f"/v2/a/manifests/{digest}").status_code == 202
    assert client.get("/v2/a/manifests/t2").status_code == 404
    r = client.delete(f"/v2/a/manifests/{digest}")
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_unknown_manifest(client):
    r = client.get("/v2/a/manifests/nope")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"


def test_subject_and_referrers(client):
    subject, body = push_image(client, "a", "img")
    subj = {"mediaType": OCI, "digest": subject, "size": len(body)}
    sig, _ = push_image(client, "a", "sig", layer=b"signature", artifactType="application/x-sig", subject=subj)
    sbom, _ = push_image(client, "a", "sbom", layer=b"sbom", subject=subj)
    r = client.put(f"/v2/a/manifests/{sig}", content=client.get(f"/v2/a/manifests/{sig}").content,
                   headers={"Content-Type": OCI})
    assert r.headers["oci-subject"] == subject
    r = client.get(f"/v2/a/referrers/{subject}")
    assert r.status_code == 200
    assert r.headers["content-type"] == INDEX
    found = {m["digest"]: m for m in r.json()["manifests"]}
    assert set(found) == {sig, sbom}
    assert found[sig]["artifactType"] == "application/x-sig"
    assert found[sbom]["artifactType"] == "application/vnd.oci.image.config.v1+json"
    r = client.get(f"/v2/a/referrers/{subject}?artifactType=application/x-sig")
    assert r.headers["oci-filters-applied"] == "artifactType"
    assert [m["digest"] for m in r.json()["manifests"]] == [sig]
    r = client.get(f"/v2/a/referrers/{sha256(b'nothing')}")
    assert r.status_code == 200 and r.json()["manifests"] == []
    assert client.get("/v2/a/referrers/sha256:bad").status_code == 400


def test_reads_of_malformed_references_are_unknown(client):
    for ref in (".INVALID_MANIFEST_NAME", "sha256:nothex", "md5:" + "a" * 32):
        for method in ("GET", "HEAD"):
            r = client.request(method, f"/v2/a/manifests/{ref}")
            assert r.status_code == 404, (method, ref)
    r = client.put("/v2/a/manifests/.INVALID", content=b"{}", headers={"Content-Type": OCI})
    assert r.status_code == 400
