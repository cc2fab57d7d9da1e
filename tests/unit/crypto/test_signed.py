"""Signed JSON documents: one byte form, one signer."""

import base64

import pytest
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey

from sealedreg.crypto.signed import SignatureError, canonical, load_canonical, sign_document

KEY, OTHER = SigningKey(bytes(32)), SigningKey(bytes(range(32)))


def test_canonical_is_sorted_compact_utf8():
    assert canonical({"b": 1, "a": [1, {"d": "é", "c": None}]}) == '{"a":[1,{"c":null,"d":"é"}],"b":1}'.encode()


def test_a_signed_document_is_its_fields_plus_a_signature_over_their_canonical_form():
    raw = sign_document({"ns": "example.com", "seq": 3}, KEY)
    doc = load_canonical(raw, "doc")
    sig = base64.b64decode(doc.pop("sig"))
    KEY.verify_key.verify(canonical(doc), sig)
    with pytest.raises(BadSignatureError):
        OTHER.verify_key.verify(canonical(doc), sig)
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
