"""Path safety: nothing a request names reaches outside the data directory."""

import os

import pytest

from tests.unit.api.conftest import sha256

D = sha256(b"x")


@pytest.mark.parametrize("path", [
    f"/v2/a/%2e%2e/blobs/{D}",
    f"/v2/%2e%2e/%2e%2e/etc/blobs/{D}",
    f"/v2/a/../../blobs/{D}",
    f"/v2/%2Fetc/blobs/{D}",
    f"/v2/a%00b/blobs/{D}",
    f"/v2/A/blobs/{D}",
    "/v2/a/manifests/..%2f..%2fx",
    "/v2/a/blobs/uploads/..%2f..%2fstate",
    "/v2/a/blobs/sha256:..%2f..%2f" + "a" * 58,
])
def test_traversal_is_refused(client, tmp_path, path):
    before = set(os.listdir(tmp_path))
    for method in ("GET", "PUT", "PATCH", "DELETE", "POST"):
        r = client.request(method, path, content=b"{}")
        assert r.status_code in (400, 404, 405), (method, path, r.status_code)
        if r.status_code != 405 and r.content:
            assert r.json()["errors"][0]["code"]
    assert set(os.listdir(tmp_path)) == before


def test_upload_session_ids_are_validated(client):
    for sid in ["..%2f..%2findex.sqlite", "x" * 32, "0" * 31, "0" * 33, "%2Fetc%2Fpasswd", "..", "%00"]:
        r = client.get(f"/v2/a/blobs/uploads/{sid}")
        assert r.status_code == 404
        assert r.json()["errors"][0]["code"] in ("BLOB_UPLOAD_UNKNOWN", "UNSUPPORTED")


@pytest.mark.parametrize("name", ["a%0Ab", "a/b%0D%0A", "%0A", "a%0A/b"])
def test_a_name_with_a_line_break_is_name_invalid(client, name):
    # schemathesis finding: `{name:path}` (`.*`) matched no line break, so such a
    # name matched no route: 404 "no such endpoint" instead of 400 NAME_INVALID
    for method, tail in [("GET", "tags/list"), ("GET", "manifests/latest"), ("PUT", "manifests/latest"),
                         ("GET", f"blobs/{D}"), ("POST", "blobs/uploads/"), ("GET", f"referrers/{D}")]:
        r = client.request(method, f"/v2/{name}/{tail}", content=b"{}")
        assert r.status_code == 400 and r.json()["errors"][0]["code"] == "NAME_INVALID", (method, tail)
