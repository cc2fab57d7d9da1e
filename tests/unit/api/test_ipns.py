"""IPNS records over HTTP: `/ipns/<name>` (trustless gateway: record form only)
and `/routing/v1/ipns/<name>`; only records this registry signed exist."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from starlette.testclient import TestClient

from sealedreg.config import Config
from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.ipns import ipns_name, parse_record
from sealedreg.registry.publishing import ipns_record
from tests.unit.api.conftest import app_for

KEYS = OrgKeys.generate("acme.test")
ROOT = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
NAME, RECORD = ipns_record(KEYS, ROOT, 3, 4_000_000_000, 300)
RECORD_TYPE = "application/vnd.ipfs.ipns-record"


@pytest.fixture
def client(tmp_path):
    app = app_for(Config(data=tmp_path / "data", durable=False))
    asyncio.run(app.state.registry.index.set_ipns_record("acme.test", NAME, RECORD))
    with TestClient(app) as c:
        yield c


def check_record_response(r, body: bytes = RECORD) -> None:
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == RECORD_TYPE
    assert r.headers["content-length"] == str(len(RECORD))
    assert r.headers["cache-control"] == "public, max-age=30"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"] == f'attachment; filename="{NAME}.ipns-record"'
    assert r.content == body


def test_gateway_record_with_format(client):
    r = client.get(f"/ipns/{NAME}?format=ipns-record")
    check_record_response(r)
    assert parse_record(r.content, NAME, datetime(2030, 1, 1, tzinfo=timezone.utc)).value == f"/ipfs/{ROOT}"


def test_gateway_record_with_accept(client):
    check_record_response(client.get(f"/ipns/{NAME}", headers={"Accept": RECORD_TYPE}))
    check_record_response(client.get(f"/ipns/{NAME}", headers={"Accept": f"text/html, {RECORD_TYPE};q=0.9"}))


@pytest.mark.parametrize("query, accept", [("", None), ("?format=raw", None), ("?format=car", None),
                                           ("", "application/vnd.ipld.raw"), ("", "*/*"),
                                           ("?format=IPNS-RECORD", None)])
def test_gateway_refuses_other_forms(client, query, accept):
    headers = {"Accept": accept} if accept else {}
    r = client.get(f"/ipns/{NAME}{query}", headers=headers)
    assert r.status_code == 406
    assert r.headers["content-type"].startswith("text/plain") and "format=ipns-record" in r.text


def test_406_even_for_an_unknown_name(client):
    assert client.get("/ipns/k51unknown").status_code == 406


def test_unknown_name_is_404(client):
    other = ipns_name(OrgKeys.generate("other.test").sig.verify_key)
    r = client.get(f"/ipns/{other}?format=ipns-record")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/plain")
    assert other in r.text and RECORD_TYPE not in r.headers["content-type"]
    assert client.get(f"/routing/v1/ipns/{other}").status_code == 404


def test_the_404_message_is_bounded(client):
    r = client.get(f"/ipns/{'k' * 500}?format=ipns-record")
    assert r.status_code == 404 and "k" * 101 not in r.text


def test_head_has_the_headers_and_no_body(client):
    r = client.head(f"/ipns/{NAME}?format=ipns-record")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-length"] == str(len(RECORD)) and r.headers["content-type"] == RECORD_TYPE
    assert client.head(f"/routing/v1/ipns/{NAME}").headers["content-length"] == str(len(RECORD))


def test_routing_record(client):
    check_record_response(client.get(f"/routing/v1/ipns/{NAME}"))
    check_record_response(client.get(f"/routing/v1/ipns/{NAME}", headers={"Accept": RECORD_TYPE}))


def test_the_latest_record_is_served(tmp_path):
    app = app_for(Config(data=tmp_path / "data", durable=False))
    _, newer = ipns_record(KEYS, ROOT, 4, 4_000_000_000, 300)
    index = app.state.registry.index
    asyncio.run(index.set_ipns_record("acme.test", NAME, RECORD))
    asyncio.run(index.set_ipns_record("acme.test", NAME, newer))
    with TestClient(app) as c:
        r = c.get(f"/ipns/{NAME}?format=ipns-record")
        assert r.content == newer
        assert parse_record(r.content, NAME, datetime(2030, 1, 1, tzinfo=timezone.utc)).sequence == 4


def test_writes_are_not_allowed(client):
    assert client.put(f"/ipns/{NAME}", content=RECORD).status_code == 405
    assert client.post(f"/routing/v1/ipns/{NAME}", content=RECORD).status_code == 405
    assert client.get(f"/ipns/{NAME}?format=ipns-record").content == RECORD
