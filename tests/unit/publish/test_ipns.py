"""IPNS records against their vectors (tests/vectors/ipns-v1.json), round trips,
every way a record must be refused, and fuzzing: parse_record raises
IpnsError and nothing else, whatever the bytes."""

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cbor2
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.signing import SigningKey

from sealedreg.publish.ipns import (
    IpnsError, IpnsRecord, format_validity, ipns_name, key_of_name, make_record, parse_record,
)
from tests.vectors.make_ipns_v1 import pb, sign_v2

DOC = json.loads((Path(__file__).parents[2] / "vectors" / "ipns-v1.json").read_text())
NOW = datetime.fromisoformat(DOC["now"])
KEYS = {k["key"]: SigningKey(bytes.fromhex(k["seed"])) for k in DOC["keys"]}
KEY = SigningKey(bytes(range(100, 132)))
NAME = ipns_name(KEY.verify_key)
LATER = datetime(2125, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)
VALUE = "/ipfs/bafkqaaa"


# -- names ----------------------------------------------------------------------
@pytest.mark.parametrize("k", DOC["keys"], ids=[k["key"] for k in DOC["keys"]])
def test_names_of_the_vector_keys(k):
    key = SigningKey(bytes.fromhex(k["seed"])).verify_key
    assert bytes(key).hex() == k["public"]
    assert ipns_name(key) == k["ipns_name"] and k["ipns_name"].startswith("k51")
    for form in (k["ipns_name"], k["peer_id"], k["ipns_name"].upper()):
        assert bytes(key_of_name(form)) == bytes(key)


@pytest.mark.parametrize("bad", DOC["bad_names"], ids=[b["name"][:24] or "empty" for b in DOC["bad_names"]])
def test_bad_names_are_refused(bad):
    with pytest.raises(IpnsError, match=re.escape(bad["error"])):
        key_of_name(bad["name"])


@settings(max_examples=60, deadline=None)
@given(seed=st.binary(min_size=32, max_size=32))
def test_name_round_trip(seed):
    key = SigningKey(seed).verify_key
    assert bytes(key_of_name(ipns_name(key))) == bytes(key)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=80))
def test_key_of_name_only_raises_ipns_error(text):
    try:
        key_of_name(text)
    except IpnsError:
        pass


# -- the vectors -------------------------------------------------------------------
@pytest.mark.parametrize("case", DOC["records"], ids=[r["name"] for r in DOC["records"]])
def test_record_vectors(case):
    raw = bytes.fromhex(case["record_hex"])
    expected = IpnsRecord(value=case["value"], sequence=case["sequence"],
                          validity=datetime.fromisoformat(case["validity"]), ttl=case["ttl_ns"])
    assert parse_record(raw, case["ipns_name"], NOW) == expected
    assert parse_record(raw, case["ipns_name"]) == expected   # valid until 2125 or later: the clock agrees
    if case["made_by"] == "make_record":
        made = make_record(KEYS[case["key"]], case["value"], case["sequence"], expected.validity, case["ttl_ns"])
        assert made == raw
        assert format_validity(expected.validity).decode() == case["validity_text"]


@pytest.mark.parametrize("failure", DOC["failures"], ids=[f["name"] for f in DOC["failures"]])
def test_failure_vectors_are_refused(failure):
    with pytest.raises(IpnsError, match=re.escape(failure["error"])):
        parse_record(bytes.fromhex(failure["record_hex"]), failure["ipns_name"], NOW)


# -- round trips ---------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(seq=st.integers(0, 2**63 - 1), ttl=st.integers(0, 2**63 - 1),
       offset=st.integers(0, 10**15), path=st.sampled_from(["/ipfs/bafkqaaa", "/ipfs/bafkqaaa/a/b", f"/ipns/{NAME}"]))
def test_round_trip(seq, ttl, offset, path):
    validity = NOW + timedelta(microseconds=offset)
    rec = parse_record(make_record(KEY, path, seq, validity, ttl), NAME, NOW)
    assert rec == IpnsRecord(value=path, sequence=seq, validity=validity, ttl=ttl)


def test_validity_is_written_as_boxo_writes_it_and_read_in_any_offset():
    assert format_validity(LATER) == b"2125-01-01T12:00:00.123456000Z"
    east = LATER.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert format_validity(east) == format_validity(LATER)
    rec = parse_record(make_record(KEY, VALUE, 1, east, 0), NAME, NOW)
    assert rec.validity == LATER and rec.validity.tzinfo == timezone.utc


def test_legacy_v1_signature_covers_value_validity_and_eol():
    """What nodes older than go-ipfs 0.9 check (we never do): sign(value ‖ validity ‖ "EOL")."""
    raw = make_record(KEY, VALUE, 3, LATER, 5)
    sig_v1 = raw[raw.index(b"\x12\x40") + 2:][:64]
    KEY.verify_key.verify(VALUE.encode() + format_validity(LATER) + b"EOL", sig_v1)


def test_expiry_is_to_the_nanosecond_and_inclusive():
    raw = make_record(KEY, VALUE, 0, LATER, 0)
    assert parse_record(raw, NAME, LATER).value == VALUE                      # at the EOL itself: still valid
    with pytest.raises(IpnsError, match="expired"):
        parse_record(raw, NAME, LATER + timedelta(microseconds=1))


def test_record_is_bound_to_its_name():
    raw = make_record(KEY, VALUE, 0, LATER, 0)
    other = ipns_name(SigningKey(bytes(32)).verify_key)
    with pytest.raises(IpnsError, match="signatureV2 does not verify"):
        parse_record(raw, other, NOW)


@pytest.mark.parametrize("value", ["ipfs/bafkqaaa", "/ipfs/", "https://example.com", "/ipld/bafkqaaa", ""])
def test_make_record_refuses_what_is_not_a_content_path(value):
    with pytest.raises(ValueError, match="/ipfs/ or /ipns/"):
        make_record(KEY, value, 0, LATER, 0)


@pytest.mark.parametrize("kwargs, error", [
    ({"sequence": -1}, "sequence"), ({"sequence": 2**63}, "sequence"),
    ({"ttl_ns": -1}, "ttl_ns"), ({"validity": datetime(2125, 1, 1)}, "timezone-aware"),
    ({"value": "/ipfs/bafkqaaa/" + "x" * 5000}, "10 KiB"),
])
def test_make_record_refuses_bad_inputs(kwargs, error):
    args = {"value": VALUE, "sequence": 0, "validity": LATER, "ttl_ns": 0, **kwargs}
    with pytest.raises(ValueError, match=error):
        make_record(KEY, args["value"], args["sequence"], args["validity"], args["ttl_ns"])


def test_naive_now_is_a_caller_error():
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_record(make_record(KEY, VALUE, 0, LATER, 0), NAME, datetime(2026, 1, 1))


def test_unknown_protobuf_fields_are_skipped():
    raw = make_record(KEY, VALUE, 0, LATER, 0)
    extra = b"\x50\x01" + b"\x59" + bytes(8) + b"\x65" + bytes(4) + b"\x6a\x02hi"   # fields 10-13, wire 0/1/5/2
    assert parse_record(raw + extra, NAME, NOW).value == VALUE


# -- fuzz: only IpnsError, never another exception ---------------------------------------
GOOD = make_record(KEY, VALUE, 9, LATER, 300)


@settings(max_examples=400, deadline=None)
@given(raw=st.binary(max_size=600))
def test_random_bytes_raise_only_ipns_error(raw):
    with pytest.raises(IpnsError):
        parse_record(raw, NAME, NOW)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=4),
       cut=st.integers(0, len(GOOD)))
def test_mutated_records_raise_only_ipns_error(edits, cut):
    raw = bytearray(GOOD)
    for pos, byte in edits:
        raw[pos] = byte
    raw = bytes(raw[:cut]) if cut < len(raw) - 1 else bytes(raw)
    try:
        rec = parse_record(raw, NAME, NOW)
    except IpnsError:
        return
    # an edit the signature does not cover (a V1 signature byte) or no change at all
    assert rec == parse_record(GOOD, NAME, NOW)


@settings(max_examples=300, deadline=None)
@given(data=st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.binary(max_size=20)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20))
def test_signed_arbitrary_cbor_raises_only_ipns_error(data):
    """Correctly signed data of any shape: refused with IpnsError unless it is a valid record."""
    body = cbor2.dumps(data)
    try:
        parse_record(pb((8, sign_v2(KEY, body)), (9, body)), NAME, NOW)
    except IpnsError:
        pass


def test_a_signing_key_is_never_taken_for_a_name():
    with pytest.raises(TypeError, match="VerifyKey"):
        ipns_name(KEY)  # type: ignore[arg-type]
