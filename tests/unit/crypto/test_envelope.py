"""sealedreg-seal/v1: the vector opens; every forgery, tamper and rollback is refused."""

import base64
import json
from pathlib import Path

import pytest
from nacl.signing import SigningKey

from sealedreg.crypto.envelope import EnvelopeError, canonical, open_envelope, seal, verify
from sealedreg.crypto.keys import OrgKeys, kid, parse_tagged
from nacl.public import PrivateKey

V = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v1.json").read_text())


def keys(doc) -> OrgKeys:
    return OrgKeys(doc["name"], SigningKey(parse_tagged(doc["sig"], "ed25519")),
                   PrivateKey(parse_tagged(doc["box"], "x25519")))


PUB, REC = keys(V["publisher_key"]), keys(V["recipient_key"])
ENV = V["envelope"].encode()
ID = json.loads(ENV)["header"]["id"]
WHERE = {"namespace": "example.com", "envelope_id": ID}


def test_vector_opens_for_every_recipient():
    for who in (PUB, REC):
        opened = open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=who, **WHERE)
        assert opened.payload == V["payload"] and opened.seq == V["seq"]
        assert set(opened.recipients) == {PUB.public.kid, REC.public.kid}


def test_header_is_bound_and_recipients_named_by_kid_only():
    doc = json.loads(ENV)
    assert doc["header"]["v"] == "sealedreg-seal/v1"
    assert all(set(r) == {"kid", "key"} and len(r["kid"]) == 16 for r in doc["header"]["recipients"])
    text = ENV.decode()
    assert "example.com/secret" not in text and "sha256:" not in text  # nothing private in clear


def test_non_recipient_cannot_open():
    with pytest.raises(EnvelopeError, match="not a recipient"):
        open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=OrgKeys.generate("stranger"), **WHERE)


def _mutate(fn) -> bytes:
    doc = json.loads(ENV)
    fn(doc)
    return canonical(doc)


def _flip_b64(text: str, at: int = 5) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[at % len(raw)] ^= 1
    return base64.b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("change", [
    lambda d: d.update(body=_flip_b64(d["body"])),                       # changed body
    lambda d: d.update(nonce=_flip_b64(d["nonce"])),                     # changed nonce
    lambda d: d["header"].update(seq=d["header"]["seq"] + 1),            # changed header
    lambda d: d["header"].update(ns="evil.example"),                     # moved namespace
    lambda d: d["header"]["recipients"].reverse() or d["header"]["recipients"][0].update(
        key=d["header"]["recipients"][1]["key"]),                       # recipient stanza swapped
    lambda d: d.update(sig=_flip_b64(d["sig"])),                         # broken signature
    lambda d: d["header"].update(v="sealedreg-seal/v0"),                 # wrong version
])
def test_tampering_is_refused(change):
    with pytest.raises(EnvelopeError):
        open_envelope(_mutate(change), publisher=PUB.sig.verify_key, recipient=REC, **WHERE)


def test_resigned_by_another_key_is_refused():
    mallory = OrgKeys.generate("mallory")
    forged = seal(V["payload"], namespace="example.com", envelope_id=json.loads(ENV)["header"]["id"], seq=99,
                  publisher=mallory, recipients=[REC.box.public_key])
    with pytest.raises(EnvelopeError, match="expected publisher"):
        open_envelope(forged, publisher=PUB.sig.verify_key, recipient=REC, **WHERE)
    # even with the honest publisher's key put back in the header, the signature fails
    doc = json.loads(forged)
    doc["header"]["publisher"] = "ed25519:" + base64.b64encode(bytes(PUB.sig.verify_key)).decode()
    with pytest.raises(EnvelopeError, match="bad signature"):
        open_envelope(canonical(doc), publisher=PUB.sig.verify_key, recipient=REC, **WHERE)


def test_rollback_is_refused():
    open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=REC, min_seq=7, **WHERE)
    with pytest.raises(EnvelopeError, match="rollback"):
        open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=REC, min_seq=8, **WHERE)


def test_an_envelope_with_another_name_is_refused():
    """The publisher's genuine envelope, handed over as another one."""
    for where in ({"namespace": "example.com", "envelope_id": "00" * 32},
                  {"namespace": "other.org", "envelope_id": ID}):
        with pytest.raises(EnvelopeError, match="this envelope is not"):
            open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=REC, **where)


def test_non_canonical_encoding_is_refused():
    spaced = json.dumps(json.loads(ENV), indent=1).encode()
    with pytest.raises(EnvelopeError, match="canonical"):
        verify(spaced, PUB.sig.verify_key)


@pytest.mark.parametrize("raw", [b"", b"{}", b"[]", b"not json", b'{"header":{},"nonce":"","body":"","sig":""}',
                                 b"x" * (17 << 20)])
def test_garbage_is_refused(raw):
    with pytest.raises(EnvelopeError):
        verify(raw, PUB.sig.verify_key)


def test_kid_names_a_box_key():
    assert kid(bytes(REC.box.public_key)) == REC.public.kid and len(REC.public.kid) == 16
