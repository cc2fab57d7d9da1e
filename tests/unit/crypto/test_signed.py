"""Signed JSON documents: one byte form, one signer."""

import json

import pytest
from nacl.signing import SigningKey

from sealedreg.crypto.signed import SignatureError, canonical, load_canonical, sign_document, verify_document

KEY, OTHER = SigningKey(bytes(32)), SigningKey(bytes(range(32)))


def test_canonical_is_sorted_compact_utf8():
    assert canonical({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()


def test_sign_and_verify():
    raw = sign_document({"ns": "example.com", "seq": 3}, KEY)
    assert verify_document(raw, KEY.verify_key, "doc") == {"ns": "example.com", "seq": 3}
    with pytest.raises(SignatureError, match="expected publisher"):
        verify_document(raw, OTHER.verify_key, "doc")
    with pytest.raises(ValueError):
        sign_document({"sig": "already"}, KEY)


@pytest.mark.parametrize("raw,error", [
    (b"not json", "not JSON"),
    (b"[1]", "not a JSON object"),
    (b'{"b":1, "a":2}', "canonical"),
    (b"\xff", "not JSON"),
    (b"{" + b" " * (2 << 20) + b"}", "larger than"),
])
def test_load_canonical_refuses(raw, error):
    with pytest.raises(SignatureError, match=error):
        load_canonical(raw, "doc")


def test_a_signature_that_is_not_64_bytes_or_not_base64_is_refused():
    doc = json.loads(sign_document({"a": 1}, KEY))
    for bad in ("AAAA", "!!!", 7):
        with pytest.raises(SignatureError):
            verify_document(canonical({**doc, "sig": bad}), KEY.verify_key, "doc")
