"""Fuzzing publish's parsers of untrusted input (issue 13, item 6):
descriptors, `_sealedreg` TXT records, DNSLink values and IPNS records and
names (test_ipns.py already feeds parse_record random and edited bytes;
here: records spliced from fields of several, and names edited). Each
raises only its documented error; a descriptor or record verifies only
under the right key, and a name or link reads back as what it was."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from nacl.signing import SigningKey

from sealedreg.crypto.keys import KeyError_, parse_keys
from sealedreg.crypto.signed import canonical, sign_document
from sealedreg.publish.descriptor import DescriptorError, make_descriptor, verify_descriptor
from sealedreg.publish.dnslink import DnsLink, DnsLinkError, parse_dnslink, record_value
from sealedreg.publish.ipns import IpnsError, ipns_name, key_of_name, make_record, parse_record
from sealedreg.publish.records import (MAX_HINTS, Hints, hints_from_records, keys_from_records, keys_record,
                                       parse_fields)
from sealedreg.storage.cid import BASE36, BASE58BTC, radix_encode, read_varint
from tests.helpers.fuzz import ANY_TEXT, FEW, FUZZ, json_values, mutated, mutated_text

VECTORS = Path(__file__).parents[2] / "vectors"
V2 = json.loads((VECTORS / "seal-v2.json").read_text())
TREE = json.loads((VECTORS / "tree-v2.json").read_text())
KV = json.loads((VECTORS / "keys-v1.json").read_text())
KEYS = {role: parse_keys(json.dumps(doc).encode(), "vector", role) for role, doc in V2["keys"].items()}
KEYS["tree"] = parse_keys(json.dumps(TREE["key"]).encode(), "vector", "tree")
PUB, STRANGER = KEYS["publisher"], KEYS["stranger"]
NOW = 1_700_000_000

DESCRIPTORS = [d["descriptor"].encode() for d in V2["descriptors"] + V2["descriptor_failures"]]
DESCRIPTORS += [TREE["descriptor"].encode()] + [d["descriptor"].encode() for d in TREE["descriptor_failures"]]
DESCRIPTORS += [make_descriptor("example.com", 7, PUB, NOW + 100, {"blobs": "bafy"}),
                make_descriptor("example.com", 8, KEYS["rotated"], NOW + 100, {})]


# -- descriptors ---------------------------------------------------------------------
def _verified(raw: bytes, key, **kw):
    try:
        return verify_descriptor(raw, key.sig.verify_key, **kw)
    except DescriptorError:
        return None


def _signed_part(raw: bytes) -> bytes:
    """What a descriptor's signatures cover: everything but `sig` and `prev_sig`."""
    doc = json.loads(raw)
    doc.pop("sig", None)
    doc.pop("prev_sig", None)
    return canonical(doc)


GENUINE = {_signed_part(raw) for raw in DESCRIPTORS for role in KEYS if _verified(raw, KEYS[role]) is not None}


@FUZZ
@given(raw=st.binary(max_size=300) | mutated(DESCRIPTORS), role=st.sampled_from(sorted(KEYS)),
       now=st.none() | st.just(NOW), min_seq=st.integers(0, 10))
def test_verify_descriptor_raises_only_descriptor_error(raw, role, now, min_seq):
    d = _verified(raw, KEYS[role], now=now, min_seq=min_seq)
    if d is None:
        return
    assert _signed_part(raw) in GENUINE    # a change the signatures cover never verifies
    assert d.seq >= min_seq and (now is None or d["expires"] > now)
    trusted = KEYS[role].public.sig_text
    assert d.signer == trusted or d.rotated_from == trusted
    # and only under a key it names: its signer, or the one it rotated from
    named = {d["pub"]["sig"], (d.get("prev") or {}).get("sig")}
    assert all(k.public.sig_text in named for k in KEYS.values() if _verified(raw, k) is not None)


FIELDS = st.dictionaries(st.sampled_from(["v", "ns", "seq", "expires", "content", "pub", "prev", "extra"]),
                         json_values(), max_size=4)


@FEW
@given(fields=FIELDS, now=st.none() | st.integers(-(2**63), 2**63))
@example(fields={"expires": -(10**20)}, now=0)                 # _utc: OverflowError / OSError / ValueError
@example(fields={"expires": 10**30}, now=10**31)
@example(fields={"seq": 2**53 + 1}, now=None)
@example(fields={"pub": {"sig": "ed25519:!"}, "prev": {"sig": "self"}}, now=None)
def test_signed_descriptors_of_any_shape_raise_only_descriptor_error(fields, now):
    """Correctly signed, but with any fields: only the descriptor's own checks decide."""
    doc = {"v": 2, "ns": "example.com", "seq": 1, "pub": {"sig": PUB.public.sig_text, "box": PUB.public.box_text},
           **fields}
    if doc.get("prev") == {"sig": "self"}:
        doc["prev"] = {"sig": PUB.public.sig_text}
    raw = sign_document(doc, PUB.sig)
    try:
        d = verify_descriptor(raw, PUB.sig.verify_key, now=now)
    except DescriptorError:
        return
    assert d.signer == PUB.public.sig_text and isinstance(d.seq, int)


# -- `_sealedreg` TXT records ----------------------------------------------------------
RECORDS = [KV["txt"], keys_record(PUB.public, Hints(("/ip4/1.2.3.4/tcp/4001/p2p/12D3KooW" + "A" * 44,),
                                                     ("https://ipfs.example.com/",)))]
RECORDS += [r for f in KV["txt_failures"] for r in f["records"]]


@FUZZ
@given(record=ANY_TEXT | mutated_text(RECORDS))
def test_parse_fields_never_raises(record):
    fields = parse_fields(record)
    for key, value in fields.items():
        assert ";" not in key + value and "=" not in key and key == key.strip() and value == value.strip()


@FUZZ
@given(records=st.lists(ANY_TEXT | mutated_text(RECORDS), max_size=4))
def test_keys_from_records_raises_only_key_error(records):
    try:
        keys = keys_from_records("example.com", records)
    except KeyError_:
        return
    # the record it came from names exactly these keys
    def alone(record: str):
        try:
            return keys_from_records("example.com", [record])
        except KeyError_:
            return None
    assert keys in [alone(r) for r in records]


@FUZZ
@given(records=st.lists(ANY_TEXT | mutated_text(RECORDS), max_size=6))
def test_hints_from_records_never_raise_and_are_well_formed(records):
    hints = hints_from_records(records)
    assert len(hints.ipfsnodes) <= MAX_HINTS and len(hints.gateways) <= MAX_HINTS
    assert all("/p2p/" in n for n in hints.ipfsnodes)
    assert all(g.startswith(("http://", "https://")) and not g.endswith("/") for g in hints.gateways)


@pytest.mark.parametrize("record", [
    "v=sealedreg1; ipfsnode=" + "/a" * 20_000 + "/p2p/" + "1" * 39,
    "v=sealedreg1; ipfsnode=" + "/p2p" * 20_000,
    "v=sealedreg1; gateway=http://" + "a." * 20_000 + ":1x",
    "v=sealedreg1; gateway=https://[" + ":" * 40_000,
])
def test_hint_patterns_stay_linear_on_long_hostile_records(record):
    """A DNS answer is at most 64 KiB; each of these would take minutes if a pattern backtracked."""
    assert hints_from_records([record]) == Hints()


# -- DNSLink ----------------------------------------------------------------------------
LINKS = ["dnslink=/ipfs/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "dnslink=/ipns/k51qzi5",
         "dnslink=/ipns/example.com", "other=thing"]


@FUZZ
@given(values=st.lists(ANY_TEXT | mutated_text(LINKS), max_size=4))
def test_parse_dnslink_raises_only_dnslink_error(values):
    try:
        link = parse_dnslink("example.com", values)
    except DnsLinkError:
        return
    assert link.namespace in ("ipfs", "ipns") and link.identifier and "/" not in link.identifier
    assert parse_dnslink("example.com", [record_value(link)]) == link


@FUZZ
@given(namespace=st.sampled_from(["ipfs", "ipns"]), identifier=st.text(min_size=1, max_size=40).filter(
    lambda t: "/" not in t and t == t.strip()))
def test_dnslink_round_trips(namespace, identifier):
    link = DnsLink(namespace, identifier)
    assert parse_dnslink("example.com", [record_value(link)]) == link


# -- IPNS names and records --------------------------------------------------------------
IPNS_KEYS = [SigningKey(bytes([i]) * 32) for i in range(1, 4)]
NAMES = [ipns_name(k.verify_key) for k in IPNS_KEYS]
NAMES += [radix_encode(b"\x00\x24\x08\x01\x12\x20" + bytes(k.verify_key), BASE58BTC) for k in IPNS_KEYS]
LATER = datetime(2125, 1, 1, tzinfo=timezone.utc)
NOW_DT = datetime(2025, 1, 1, tzinfo=timezone.utc)
IPNS_RECORDS = [make_record(k, v, seq, LATER, ttl) for k in IPNS_KEYS
                for v, seq, ttl in (("/ipfs/bafkqaaa", 1, 0), ("/ipns/example.com", 2**40, 10**12))]


@FUZZ
@given(name=mutated_text(NAMES))
@example(name="k" + radix_encode(b"\x81\x00\x72\x00\x24\x08\x01\x12\x20" + bytes(32), BASE36))
def test_key_of_name_reads_only_canonical_names(name):
    try:
        key = key_of_name(name)
    except IpnsError:
        return
    canonical_name = ipns_name(key)
    if name[0] in "kK":
        assert name.lower() == canonical_name      # one key, one k51… name
    else:
        assert bytes(key_of_name(canonical_name)) == bytes(key)


def _fields(raw: bytes) -> list[bytes]:
    """The top-level protobuf fields of a record, each as its bytes (key, length, value)."""
    out, pos = [], 0
    while pos < len(raw):
        start = pos
        tag, pos = read_varint(raw, pos)
        if tag & 7 == 0:
            _, pos = read_varint(raw, pos)
        else:
            length, pos = read_varint(raw, pos)
            pos += length
        out.append(raw[start:pos])
    return out


FIELD_POOL = sorted({f for r in IPNS_RECORDS for f in _fields(r)})


@FUZZ
@given(fields=st.lists(st.sampled_from(FIELD_POOL), max_size=10), which=st.integers(0, len(IPNS_KEYS) - 1))
def test_records_spliced_from_fields_of_others_raise_only_ipns_error(fields, which):
    raw = b"".join(fields)
    try:
        rec = parse_record(raw, NAMES[which], NOW_DT)
    except IpnsError:
        return
    # whatever verifies says what one genuine record of this key says
    genuine = [parse_record(r, NAMES[which], NOW_DT) for r in IPNS_RECORDS[2 * which:2 * which + 2]]
    assert rec in genuine


@FUZZ
@given(raw=mutated(IPNS_RECORDS), which=st.integers(0, len(IPNS_KEYS) - 1))
def test_a_record_verifies_only_under_its_own_name(raw, which):
    try:
        parse_record(raw, NAMES[which], NOW_DT)
    except IpnsError:
        return
    for i, other in enumerate(NAMES[:len(IPNS_KEYS)]):
        if i != which:
            with pytest.raises(IpnsError):
                parse_record(raw, other, NOW_DT)

