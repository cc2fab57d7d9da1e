"""IPNS records against a real Kubo, both ways: what `make_record` writes (and
every record of tests/vectors/ipns-v1.json) Kubo validates, stores and
resolves; what Kubo publishes, `parse_record` accepts; what neither may
trust (a record signed by another key), neither takes.

Kubo runs with Routing.Type "dht" and no peers: `routing put` then keeps a
valid record in the node's own DHT store and `name resolve` finds it there.
Kubo v0.43.1's `routing put` answers 200 even for a record its validator
refuses; the record is simply not stored. So "Kubo refuses" is checked by
what it resolves afterwards, not by the HTTP status alone.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from nacl.signing import SigningKey

from sealedreg.publish.ipns import IpnsError, ipns_name, key_of_name, make_record, parse_record
from sealedreg.storage.cid import read_varint
from sealedreg.storage.kubo_rpc import KuboClient, KuboError
from tests.helpers.kubo import KuboNode, ipfs_cli, run_kubo

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kubo_built")]

DOC = json.loads((Path(__file__).parents[1] / "vectors" / "ipns-v1.json").read_text())
KEYS = {k["key"]: SigningKey(bytes.fromhex(k["seed"])) for k in DOC["keys"]}
HOUR_NS = 3_600_000_000_000


def run(coro):
    return asyncio.run(coro)


def in_an_hour() -> datetime:
    return datetime.now(timezone.utc) + timedelta(hours=1)


async def resolves_to(k: KuboClient, name: str) -> str | None:
    """What Kubo resolves `name` to, or None when it has no valid record for it."""
    try:
        return await k.name_resolve(name)
    except KuboError as exc:
        assert "could not resolve name" in exc.kubo_message, exc.kubo_message
        return None


def routing_get(node: KuboNode, name: str) -> bytes:
    """The raw record Kubo holds for `name` (RPC `routing/get`: the record is base64 in `Extra`)."""
    r = httpx.post(f"{node.api_url}/api/v0/routing/get", params={"arg": f"/ipns/{name}"}, timeout=60)
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["Extra"])


def field_numbers(record: bytes) -> list[int]:
    """The protobuf field numbers of a record, in order (the layout, not the values)."""
    out, pos = [], 0
    while pos < len(record):
        key, pos = read_varint(record, pos)
        if key & 7 == 0:
            _, pos = read_varint(record, pos)
        else:
            length, pos = read_varint(record, pos)
            pos += length
        out.append(key >> 3)
    return out


# -- (a) our records, Kubo validates and resolves them ------------------------------------
def test_kubo_resolves_what_make_record_writes(tmp_path):
    key = SigningKey(bytes(range(7, 39)))
    name = ipns_name(key.verify_key)
    with run_kubo(tmp_path, "a", routing="dht") as node:
        async def go():
            k = KuboClient(node.api_url)
            try:
                cid = await k.block_put(b"sealedreg: the content an IPNS name points at", "raw")
                record = make_record(key, f"/ipfs/{cid}", 1, in_an_hour(), HOUR_NS)
                await k.routing_put(f"/ipns/{name}", record)
                assert await k.name_resolve(name) == f"/ipfs/{cid}"
                assert routing_get(node, name) == record            # stored exactly as we wrote it
                # the next version replaces it
                newer = make_record(key, f"/ipfs/{cid}/", 2, in_an_hour(), HOUR_NS)
                await k.routing_put(f"/ipns/{name}", newer)
                assert routing_get(node, name) == newer
            finally:
                await k.aclose()

        run(go())


def test_kubo_accepts_every_vector_record(tmp_path):
    with run_kubo(tmp_path, "a", routing="dht") as node:
        async def go():
            k = KuboClient(node.api_url)
            latest: dict[str, str] = {}
            try:
                for case in DOC["records"]:
                    await k.routing_put(f"/ipns/{case['ipns_name']}", bytes.fromhex(case["record_hex"]))
                    value = case["value"]
                    if value.startswith("/ipns/"):                      # Kubo follows the chain
                        value = latest[value.removeprefix("/ipns/")]
                    latest[case["ipns_name"]] = value
                    assert await k.name_resolve(case["ipns_name"]) == value, case["name"]
                # an older record of a name does not displace the newer one (sequence 0 after 7)
                first = DOC["records"][0]
                await k.routing_put(f"/ipns/{first['ipns_name']}", bytes.fromhex(first["record_hex"]))
                assert await k.name_resolve(first["ipns_name"]) == DOC["records"][1]["value"]
            finally:
                await k.aclose()

        run(go())


# -- (b) Kubo's records, we accept them -----------------------------------------------------
def test_we_accept_what_kubo_publishes(tmp_path):
    with run_kubo(tmp_path, "a", routing="dht") as node:
        name = ipfs_cli(node, "key", "gen", "--type=ed25519", "site").strip()
        peer_id = ipfs_cli(node, "key", "list", "-l", "--ipns-base=b58mh").split("site")[0].split()[-1]
        assert ipns_name(key_of_name(name)) == name and bytes(key_of_name(peer_id)) == bytes(key_of_name(name))
        cids = [ipfs_cli(node, "add", "-Q", "--pin=false", input=f"version {i}".encode()).strip() for i in (0, 1)]
        for i, cid in enumerate(cids):
            before = datetime.now(timezone.utc)
            ipfs_cli(node, "name", "publish", "--allow-offline", "--key=site", "--lifetime=24h", "--ttl=90s",
                     f"/ipfs/{cid}")
            raw = routing_get(node, name)
            rec = parse_record(raw, name)
            assert (rec.value, rec.sequence, rec.ttl) == (f"/ipfs/{cid}", i, 90_000_000_000)
            assert before + timedelta(hours=24) - timedelta(seconds=1) <= rec.validity
            assert rec.validity <= datetime.now(timezone.utc) + timedelta(hours=24)
            assert parse_record(raw, peer_id) == rec
        # Kubo lays a record out as make_record does: V1 copies, then signatureV2 and data; no pubKey
        assert field_numbers(raw) == field_numbers(make_record(SigningKey(bytes(32)), rec.value, 1, rec.validity, 1))
        assert field_numbers(raw) == [1, 2, 3, 4, 5, 6, 8, 9]
        with pytest.raises(IpnsError, match="expired"):
            parse_record(raw, name, now=datetime.now(timezone.utc) + timedelta(hours=25))


def test_a_key_we_made_has_the_same_name_in_kubo_and_its_records_verify(tmp_path):
    """Our vector key imported into Kubo: Kubo names it as ipns_name does, and
    the records Kubo signs with it pass parse_record."""
    key, vector = KEYS["A"], DOC["keys"][0]
    private = b"\x08\x01\x12\x40" + bytes(key) + bytes(key.verify_key)   # libp2p PrivateKey{Ed25519, seed‖public}
    key_file = tmp_path / "a.key"
    key_file.write_bytes(private)
    with run_kubo(tmp_path, "a", routing="dht") as node:
        assert ipfs_cli(node, "key", "import", "vector-a", str(key_file)).strip() == vector["ipns_name"]
        assert vector["ipns_name"] in ipfs_cli(node, "key", "list", "-l")
        ipfs_cli(node, "name", "publish", "--allow-offline", "--key=vector-a", "/ipfs/bafkqaaa")
        rec = parse_record(routing_get(node, vector["ipns_name"]), vector["ipns_name"])
        assert (rec.value, rec.sequence) == ("/ipfs/bafkqaaa", 0)


# -- (c) a record signed by another key: neither Kubo nor we take it ----------------------------
def test_a_record_signed_by_another_key_is_refused_by_both(tmp_path):
    owner, intruder = KEYS["A"], KEYS["B"]
    name = ipns_name(owner.verify_key)
    good = make_record(owner, "/ipfs/bafkqaaa", 1, in_an_hour(), HOUR_NS)
    forged = make_record(intruder, "/ipfs/bafkqabtgn5zgozle", 9, in_an_hour(), HOUR_NS)
    with pytest.raises(IpnsError, match="signatureV2 does not verify"):
        parse_record(forged, name)
    with run_kubo(tmp_path, "a", routing="dht") as node:
        async def go():
            k = KuboClient(node.api_url)
            try:
                # alone under the name: Kubo keeps nothing, so resolves nothing
                await put_expecting_refusal(k, name, forged)
                assert await resolves_to(k, name) is None
                # over a valid record: Kubo keeps the valid one, despite the forgery's higher sequence
                await k.routing_put(f"/ipns/{name}", good)
                await put_expecting_refusal(k, name, forged)
                assert await resolves_to(k, name) == "/ipfs/bafkqaaa"
                assert routing_get(node, name) == good
                # and so for every failure vector under its name: none is ever resolved
                for failure in DOC["failures"]:
                    if failure["ipns_name"] == name:
                        await put_expecting_refusal(k, name, bytes.fromhex(failure["record_hex"]))
                assert await resolves_to(k, name) == "/ipfs/bafkqaaa"
            finally:
                await k.aclose()

        run(go())


async def put_expecting_refusal(k: KuboClient, name: str, record: bytes) -> None:
    """Put a record Kubo must not store. Kubo v0.43.1 answers 200 and drops it;
    a Kubo that reports the refusal as an error is just as right."""
    try:
        await k.routing_put(f"/ipns/{name}", record)
    except KuboError:
        pass
