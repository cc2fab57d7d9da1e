"""Regenerate tests/vectors/ipns-v1.json (only when the record format changes).

    python -m tests.vectors.make_ipns_v1 > tests/vectors/ipns-v1.json

IPNS records (specs.ipfs.tech/ipns/ipns-record) for fixed Ed25519 keys.
`keys` gives each key's seed, IPNS name ("k51…") and peer id ("12D3Koo…").
`records` must each verify under their `ipns_name` at `now` with the given
fields (they are valid until at least 2125, so they also verify against the
clock, and Kubo accepts every one: tests/integration/test_ipns_kubo.py);
those with `made_by: make_record` are exactly what `make_record` writes for
their inputs. Every entry of `failures` must be refused with its `error`, and
every entry of `bad_names` by `key_of_name`.

The records here are assembled by this script's own protobuf and CBOR
writer, not by sealedreg's (which is only checked against them): the
vectors stand apart from the code they test.
"""

import base64
import json
from datetime import datetime, timezone

import cbor2
from nacl.signing import SigningKey

from sealedreg.publish.ipns import ipns_name, make_record
from sealedreg.storage.cid import BASE58BTC, radix_encode, varint

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
KEYS = {label: SigningKey(bytes(range(i * 32, i * 32 + 32))) for i, label in enumerate("ABCDE")}
PREFIX = b"ipns-signature:"
FAR = "2125-01-01T00:00:00.000000000Z"
FIVE_MINUTES = 300_000_000_000


# -- an independent writer: protobuf fields, DAG-CBOR data, signatures ------------
def field(number: int, value: int | bytes) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def pb(*fields: tuple[int, int | bytes]) -> bytes:
    return b"".join(field(n, v) for n, v in fields)


def text_key(s: str) -> bytes:
    return bytes([0x60 + len(s)]) + s.encode()


def cbor_data(value: bytes, validity: bytes, sequence: int, ttl: int, validity_type: int = 0,
              order: tuple[str, ...] = ("TTL", "Value", "Sequence", "Validity", "ValidityType"),
              extra: dict | None = None) -> bytes:
    """The data map with its keys in `order` (the DAG-CBOR order by default:
    length first, then bytewise)."""
    items = {"TTL": ttl, "Value": value, "Sequence": sequence, "Validity": validity,
             "ValidityType": validity_type, **(extra or {})}
    return cbor2.dumps({k: items[k] for k in order})


def sign_v2(key: SigningKey, data: bytes) -> bytes:
    return key.sign(PREFIX + data).signature


def sign_v1(key: SigningKey, value: bytes, validity: bytes) -> bytes:
    return key.sign(value + validity + b"EOL").signature


def v1v2(key: SigningKey, value: str, sequence: int, validity: str, ttl: int, *,
         data: bytes | None = None, pub: bytes | None = None, v1: dict | None = None) -> bytes:
    """A V1+V2 record laid out as boxo writes it; `v1` overrides legacy fields."""
    val, vty = value.encode(), validity.encode()
    data = data if data is not None else cbor_data(val, vty, sequence, ttl)
    legacy = {1: val, 3: 0, 4: vty, 5: sequence, 6: ttl, **(v1 or {})}
    fields = [(1, legacy[1]), (2, sign_v1(key, legacy[1], legacy[4])), (3, legacy[3]), (4, legacy[4]),
              (5, legacy[5]), (6, legacy[6])]
    if pub is not None:
        fields.append((7, pub))
    return pb(*fields, (8, sign_v2(key, data)), (9, data))


def v2_only(key: SigningKey, data: bytes, pub: bytes | None = None) -> bytes:
    return pb(*([(7, pub)] if pub is not None else []), (8, sign_v2(key, data)), (9, data))


def public_key_pb(key: SigningKey, key_type: int = 1) -> bytes:
    return pb((1, key_type), (2, bytes(key.verify_key)))


def identity_cid(content: bytes) -> str:
    """CIDv1 raw with an identity multihash: content every IPFS node has."""
    raw = varint(1) + varint(0x55) + varint(0) + varint(len(content)) + content
    return "b" + base64.b32encode(raw).decode().lower().rstrip("=")


def name_of(label: str) -> str:
    return ipns_name(KEYS[label].verify_key)


def _b58(raw: bytes) -> str:
    return radix_encode(raw, BASE58BTC)


def peer_id(label: str) -> str:
    key = public_key_pb(KEYS[label])
    return _b58(bytes([0, len(key)]) + key)


# -- the vectors -----------------------------------------------------------------
def records() -> list[dict]:
    cid1, cid2, cid3 = (identity_cid(f"sealedreg ipns vector {i}".encode()) for i in (1, 2, 3))
    made = [
        ("first record", "A", f"/ipfs/{cid1}", 0, datetime(2125, 1, 1, tzinfo=timezone.utc), FIVE_MINUTES),
        ("a later record, validity to the microsecond", "A", f"/ipfs/{cid2}", 7,
         datetime(2125, 6, 30, 12, 34, 56, 789012, tzinfo=timezone.utc), 3_600_000_000_000),
        ("an /ipns/ value, ttl 0", "B", f"/ipns/{name_of('A')}", 1,
         datetime(2126, 2, 3, 4, 5, 6, 7, tzinfo=timezone.utc), 0),
        ("largest sequence and validity", "C", f"/ipfs/{cid3}", (1 << 63) - 1,
         datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone.utc), (1 << 63) - 1),
    ]
    out = []
    for what, label, value, seq, validity, ttl in made:
        record = make_record(KEYS[label], value, seq, validity, ttl)
        text = (validity.strftime("%Y-%m-%dT%H:%M:%S.") + f"{validity.microsecond * 1000:09d}Z")
        assert record == v1v2(KEYS[label], value, seq, text, ttl), "make_record disagrees with the spec writer"
        out.append(entry(what, label, value, seq, text, ttl, record, "make_record"))
    val, vty = f"/ipfs/{cid1}", FAR
    data = cbor_data(val.encode(), vty.encode(), 3, FIVE_MINUTES)
    out.append(entry("V2 only (no legacy fields)", "D", val, 3, vty, FIVE_MINUTES, v2_only(KEYS["D"], data), "hand"))
    out.append(entry("V1+V2 with the (redundant) pubKey of the name", "D", val, 4, vty, FIVE_MINUTES,
                     v1v2(KEYS["D"], val, 4, vty, FIVE_MINUTES, pub=public_key_pb(KEYS["D"])), "hand"))
    extra = cbor_data(val.encode(), vty.encode(), 5, FIVE_MINUTES,
                      order=("TTL", "Value", "_sealed", "Sequence", "Validity", "ValidityType"),
                      extra={"_sealed": {"v": 1}})
    out.append(entry("extra _field in data (ignored)", "E", val, 5, vty, FIVE_MINUTES,
                     v1v2(KEYS["E"], val, 5, vty, FIVE_MINUTES, data=extra), "hand"))
    return out


def entry(what: str, label: str, value: str, seq: int, validity_text: str, ttl: int, record: bytes,
          made_by: str) -> dict:
    parsed = datetime.strptime(validity_text[:26] + "Z", "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return {"name": what, "key": label, "ipns_name": name_of(label), "value": value, "sequence": seq,
            "validity_text": validity_text, "validity": parsed.isoformat(), "ttl_ns": ttl,
            "made_by": made_by, "record_hex": record.hex()}


def failures() -> list[dict]:
    a, b = KEYS["A"], KEYS["B"]
    val = "/ipfs/" + identity_cid(b"sealedreg ipns vector 1")
    vb, vty = val.encode(), FAR.encode()
    good = v1v2(a, val, 0, FAR, FIVE_MINUTES)
    data = cbor_data(vb, vty, 0, FIVE_MINUTES)
    tampered = cbor_data(vb[:-1] + b"a", vty, 0, FIVE_MINUTES)

    def fail(what: str, record: bytes, error: str, name: str | None = None) -> dict:
        return {"name": what, "ipns_name": name or name_of("A"), "record_hex": record.hex(), "error": error}

    def signed(d: bytes) -> bytes:
        return v2_only(a, d)

    return [
        fail("tampered value (data and V1 changed after signing)",
             pb((1, vb[:-1] + b"a"), (8, sign_v2(a, data)), (9, tampered)), "signatureV2 does not verify"),
        fail("signed by another key", v1v2(b, val, 0, FAR, FIVE_MINUTES), "signatureV2 does not verify"),
        fail("pubKey of another key", v1v2(b, val, 0, FAR, FIVE_MINUTES, pub=public_key_pb(b)),
             "pubKey does not match the name"),
        fail("pubKey not Ed25519", v1v2(a, val, 0, FAR, FIVE_MINUTES, pub=public_key_pb(a, key_type=2)),
             "not Ed25519"),
        fail("expired", v1v2(a, val, 0, "2025-12-31T23:59:59.999999999Z", FIVE_MINUTES), "expired"),
        fail("V1 value differs from data", v1v2(a, val, 0, FAR, FIVE_MINUTES, v1={1: b"/ipfs/bafkqaaa"}),
             "V1 field value does not match data Value"),
        fail("V1 validity differs from data",
             v1v2(a, val, 0, FAR, FIVE_MINUTES, v1={4: b"2125-01-02T00:00:00.000000000Z"}),
             "V1 field validity does not match data Validity"),
        fail("V1 sequence differs from data", v1v2(a, val, 0, FAR, FIVE_MINUTES, v1={5: 9}),
             "V1 field sequence does not match data Sequence"),
        fail("V1 ttl differs from data", v1v2(a, val, 0, FAR, FIVE_MINUTES, v1={6: 1}),
             "V1 field ttl does not match data TTL"),
        fail("oversize", v1v2(a, val + "/" + "x" * 5000, 0, FAR, FIVE_MINUTES), "over the 10 KiB limit"),
        fail("truncated protobuf", good[:-1], "truncated"),
        fail("cut inside a varint", good[:1] + b"\xff", "malformed IpnsEntry protobuf"),
        fail("known field with the wrong wire type", pb((8, 5)) + good, "wire type"),
        fail("missing signatureV2 (V1 only)", pb((1, vb), (2, sign_v1(a, vb, vty)), (3, 0), (4, vty), (5, 0),
                                                 (6, FIVE_MINUTES)), "no signatureV2"),
        fail("missing data", pb((8, sign_v2(a, data))), "no data"),
        fail("signatureV2 of the wrong length", pb((8, sign_v2(a, data)[:63]), (9, data)),
             "signatureV2 does not verify"),
        fail("ValidityType 1", signed(cbor_data(vb, vty, 0, FIVE_MINUTES, validity_type=1)),
             "unsupported ValidityType"),
        fail("value not a content path", signed(cbor_data(b"https://example.com/", vty, 0, 0)),
             "/ipfs/ or /ipns/ path"),
        fail("Validity not RFC 3339", signed(cbor_data(vb, b"2125-01-01 00:00:00", 0, 0)), "not an RFC 3339"),
        fail("Validity on a day that does not exist", signed(cbor_data(vb, b"2125-02-30T00:00:00Z", 0, 0)),
             "not a valid date"),
        fail("Sequence as text", signed(cbor2.dumps({"TTL": 0, "Value": vb, "Sequence": "1", "Validity": vty,
                                                     "ValidityType": 0})), "Sequence must be an integer"),
        fail("data lacks TTL", signed(cbor2.dumps({"Value": vb, "Sequence": 0, "Validity": vty,
                                                   "ValidityType": 0})), "lacks TTL"),
        fail("data not a map", signed(cbor2.dumps([vb])), "not a CBOR map"),
        fail("data not CBOR", signed(b"\x5f"), "not CBOR"),
        fail("data keys not in DAG-CBOR order",
             signed(cbor_data(vb, vty, 0, 0, order=("Value", "Validity", "ValidityType", "Sequence", "TTL"))),
             "not canonical DAG-CBOR"),
        fail("data with a duplicate key", signed(bytes([0xA6]) + data[1:] + text_key("TTL") + b"\x01"),
             "not canonical DAG-CBOR"),
        fail("data with a non-minimal integer", signed(data.replace(b"hSequence\x00", b"hSequence\x18\x00")),
             "not canonical DAG-CBOR"),
        fail("data with trailing bytes", signed(data + b"\x00"), "not canonical DAG-CBOR"),
        fail("record checked against a name of another kind", good, "expected a k51",
             name="/ipns/" + name_of("A")),
    ]


def bad_names() -> list[dict]:
    sha256_peer = _b58(bytes([0x12, 0x20]) + bytes(32))
    secp = pb((1, 2), (2, b"\x02" + bytes(32)))
    secp_peer = _b58(bytes([0, len(secp)]) + secp)
    dag_pb = "b" + base64.b32encode(bytes([1, 0x70, 0x12, 0x20]) + bytes(32)).decode().lower().rstrip("=")
    a = name_of("A")
    return [
        {"name": "", "error": "not an IPNS name"},
        {"name": "/ipns/" + a, "error": "expected a k51"},
        {"name": sha256_peer, "error": "hash of its key"},
        {"name": secp_peer, "error": "not Ed25519"},
        {"name": dag_pb, "error": "not a CIDv1 with codec libp2p-key"},
        {"name": a[:-1], "error": "IPNS name"},
        {"name": "k" + "0" + a[1:], "error": "not a CIDv1 with codec libp2p-key"},
        {"name": a.replace("k", "k!", 1), "error": "not canonical base36"},
    ]


def main() -> None:
    print(json.dumps({
        "format": "IPNS record V1+V2 (specs.ipfs.tech/ipns/ipns-record), Ed25519 names as base36 CIDv1",
        "now": NOW.isoformat(),
        "keys": [{"key": label, "seed": bytes(key).hex(), "public": bytes(key.verify_key).hex(),
                  "ipns_name": name_of(label), "peer_id": peer_id(label)} for label, key in KEYS.items()],
        "records": records(),
        "failures": failures(),
        "bad_names": bad_names(),
    }, indent=2))


if __name__ == "__main__":
    main()
