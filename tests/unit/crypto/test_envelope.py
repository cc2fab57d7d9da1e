"""sealedreg-seal/v2: the vector opens at its stanzas; every forgery, tamper,
rollback and malformed body is refused; and an envelope says nothing about
who may open it, not even how many may."""

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.public import PrivateKey, SealedBox

from sealedreg.crypto.envelope import (MAX_STANZAS, STANZA, EnvelopeError, EnvelopeMismatch, NotRecipient,
                                       envelope_version, open_envelope, seal, verify)
from sealedreg.crypto.keys import OrgKeys, b64, parse_keys
from sealedreg.crypto.padding import MIN_BODY, MIN_COUNT, pad
from sealedreg.crypto.signed import canonical

V = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v2.json").read_text())
KEYS = {role: parse_keys(json.dumps(doc).encode(), "vector", role) for role, doc in V["keys"].items()}
PUB, REC = KEYS["publisher"], KEYS["recipient"]
E = V["envelope"]
ENV = E["envelope"].encode()
NS = E["namespace"]


def _open(raw: bytes, who: OrgKeys, **kw):
    return open_envelope(raw, publisher=PUB.sig.verify_key, recipient=who.box, **{"namespace": NS, **kw})


def _stanzas(raw: bytes) -> list[bytes]:
    return [base64.b64decode(s) for s in json.loads(raw)["header"]["stanzas"]]


# -- the vector ----------------------------------------------------------------------
@pytest.mark.parametrize("role", E["recipients"])
def test_vector_opens_for_every_recipient_at_its_stanza_and_by_trial(role):
    for stanza in (E["positions"][role], None):
        opened = _open(ENV, KEYS[role], stanza=stanza)
        assert opened.payload == E["payload"] and opened.seq == E["seq"] and opened.namespace == NS
        assert opened.publisher == PUB.public.sig_text and opened.version == "sealedreg-seal/v2"
        assert opened.stanzas == len(_stanzas(ENV))


def test_vector_header_names_nobody():
    doc = json.loads(ENV)
    assert set(doc) == {"header", "nonce", "body", "sig"}
    assert set(doc["header"]) == {"v", "ns", "seq", "publisher", "stanzas"}
    assert envelope_version(ENV) == V["format"] == doc["header"]["v"]
    assert verify(ENV, PUB.sig.verify_key) == doc["header"]
    assert len(_stanzas(ENV)) == MIN_COUNT and all(len(s) == STANZA for s in _stanzas(ENV))


@pytest.mark.parametrize("failure", V["failures"], ids=[f["name"] for f in V["failures"]])
def test_envelope_failure_vectors(failure):
    with pytest.raises(EnvelopeError, match=failure["error"]):
        _open(failure["envelope"].encode(), KEYS[failure["as"]], namespace=failure["namespace"],
              min_seq=failure["min_seq"], stanza=failure["stanza"])


def test_failure_kinds():
    """Callers tell "not mine" and "not this one" apart from "forged": the kinds are part of the API."""
    kinds = {"opened by a stranger": NotRecipient, "the wrong stanza named by an index": NotRecipient,
             "opened for another namespace": EnvelopeMismatch, "sealed for another namespace": EnvelopeMismatch}
    by_name = {f["name"]: f for f in V["failures"]}
    for name, kind in kinds.items():
        f = by_name[name]
        with pytest.raises(kind):
            _open(f["envelope"].encode(), KEYS[f["as"]], namespace=f["namespace"], stanza=f["stanza"])
    with pytest.raises(EnvelopeError) as forged:
        _open(by_name["changed body"]["envelope"].encode(), REC)
    assert not isinstance(forged.value, (NotRecipient, EnvelopeMismatch))


def test_the_signature_is_checked_before_anything_else():
    """A forged envelope is "forged" whoever opens it, for whatever namespace, however recent."""
    forged = next(f for f in V["failures"] if f["name"] == "changed body")["envelope"].encode()
    with pytest.raises(EnvelopeError, match="bad signature"):
        _open(forged, KEYS["stranger"], namespace="other.org", min_seq=99, stanza=3)


def test_the_rollback_boundary():
    _open(ENV, REC, min_seq=E["seq"])
    with pytest.raises(EnvelopeError, match="rollback"):
        _open(ENV, REC, min_seq=E["seq"] + 1)


@pytest.mark.parametrize("raw", [b"", b"{}", b"[]", b"not json", b'{"header":{},"nonce":"","body":"","sig":""}',
                                 b"x" * (25 << 20)])
def test_garbage_is_refused(raw):
    with pytest.raises(EnvelopeError):
        verify(raw, PUB.sig.verify_key)


def test_envelope_version_is_only_a_hint():
    assert envelope_version(b"not json") is None and envelope_version(b"[]") is None
    assert envelope_version(b'{"header":[]}') is None
    assert envelope_version(b'{"header":{"v":"sealedreg-seal/v1"}}') == "sealedreg-seal/v1"


# -- properties of freshly sealed envelopes ----------------------------------------------
PAYLOAD = E["payload"]
ORGS = [OrgKeys.generate(f"org{i}.example") for i in range(3)]


def _seal(recipients: list[OrgKeys], payload: dict = PAYLOAD, seq: int = 1):
    return seal(payload, namespace=NS, seq=seq, publisher=PUB, recipients=[r.box.public_key for r in recipients])


def test_a_fresh_envelope_opens_for_every_recipient_and_nobody_else():
    recipients = [PUB, *ORGS]
    sealed = _seal(recipients)
    assert len(sealed.positions) == len(recipients) and len(set(sealed.positions)) == len(recipients)
    for who, at in zip(recipients, sealed.positions):
        assert _open(sealed.raw, who, stanza=at).payload == PAYLOAD
        assert _open(sealed.raw, who).payload == PAYLOAD
    for stranger in (REC, KEYS["stranger"]):
        with pytest.raises(NotRecipient):
            _open(sealed.raw, stranger)


def test_no_recipient_is_named():
    """No kid, no hash or encoding of any recipient's box key, no name: the
    stanzas are sealed boxes to keys the envelope does not say."""
    recipients = [PUB, REC, *ORGS]
    raw = _seal(recipients).raw
    for who in recipients:
        pk = bytes(who.box.public_key)
        for text in (who.public.kid, b64(pk), pk.hex(), hashlib.sha256(pk).hexdigest(), who.public.box_text,
                     base64.urlsafe_b64encode(pk).decode().rstrip("=")):
            assert text.encode() not in raw, text
        assert pk not in raw
    for text in (REC.name, *(o.name for o in ORGS), PAYLOAD["repo"], "sha256:"):
        assert text.encode() not in raw, text


def test_the_recipient_count_does_not_show_in_the_length():
    one, three = _seal([PUB]), _seal([PUB, REC, ORGS[0]])
    assert len(one.raw) == len(three.raw)
    assert len(_stanzas(one.raw)) == len(_stanzas(three.raw)) == MIN_COUNT


@pytest.mark.parametrize("count, stanzas", [(1, 8), (8, 8), (9, 16), (17, 32)])
def test_stanzas_are_a_power_of_two_at_least_eight(count, stanzas):
    recipients = [OrgKeys.generate("x") for _ in range(count)]
    sealed = _seal(recipients)
    assert len(_stanzas(sealed.raw)) == stanzas
    assert _open(sealed.raw, recipients[-1], stanza=sealed.positions[-1]).stanzas == stanzas


def test_fillers_look_like_real_stanzas():
    """A stanza starts with an X25519 point (top bit of byte 31 clear): a
    filler of random bytes would show in half the cases which stanzas are real."""
    for _ in range(8):
        sealed = _seal([PUB])
        stanzas = _stanzas(sealed.raw)
        assert all(len(s) == STANZA and not s[31] & 0x80 for s in stanzas)
        assert len(set(stanzas)) == len(stanzas)


def test_the_stanza_order_is_shuffled():
    """Where the real stanzas are says nothing either: over 20 envelopes the
    publisher's stanza is not always in the same place."""
    assert len({_seal([PUB]).positions[0] for _ in range(20)}) > 1


def test_the_body_is_padded_to_a_bucket():
    small, large = _seal([PUB]), _seal([PUB], {**PAYLOAD, "pad": "x" * MIN_BODY})
    body = lambda raw: base64.b64decode(json.loads(raw)["body"])  # noqa: E731
    assert len(body(small.raw)) == MIN_BODY + 16 and len(body(large.raw)) == 2 * MIN_BODY + 16
    assert len(_seal([PUB], {**PAYLOAD, "tags": {}}).raw) == len(small.raw)


def test_the_same_payload_seals_differently_each_time():
    a, b = _seal([PUB]), _seal([PUB])
    assert a.raw != b.raw and not set(_stanzas(a.raw)) & set(_stanzas(b.raw))
    assert json.loads(a.raw)["nonce"] != json.loads(b.raw)["nonce"]


def test_positions_follow_the_recipients_given_and_duplicates_share_one_stanza():
    sealed = _seal([REC, PUB, REC])
    assert sealed.positions[0] == sealed.positions[2] != sealed.positions[1]
    assert _open(sealed.raw, REC, stanza=sealed.positions[0]).payload == PAYLOAD


def test_an_out_of_range_stanza_hint_falls_back_to_trial():
    sealed = _seal([REC])
    for stanza in (-1, MIN_COUNT, 10**6):
        assert _open(sealed.raw, REC, stanza=stanza).payload == PAYLOAD


def test_sealing_needs_a_recipient_and_at_most_max_stanzas():
    with pytest.raises(EnvelopeError, match="at least one recipient"):
        seal(PAYLOAD, namespace=NS, seq=1, publisher=PUB, recipients=[])
    many = [PrivateKey.generate().public_key for _ in range(MAX_STANZAS + 1)]
    with pytest.raises(EnvelopeError, match="at most"):
        seal(PAYLOAD, namespace=NS, seq=1, publisher=PUB, recipients=many)


def test_a_payload_larger_than_the_largest_bucket_is_refused():
    with pytest.raises(EnvelopeError, match="largest bucket"):
        _seal([PUB], {"x": "a" * (16 << 20)})


def _by_hand(stanzas: list[bytes], dek: bytes) -> bytes:
    """A validly signed envelope with exactly these stanzas."""
    header = {"v": "sealedreg-seal/v2", "ns": NS, "seq": 1, "publisher": PUB.public.sig_text,
              "stanzas": [b64(s) for s in stanzas]}
    nonce = os.urandom(24)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(pad(canonical(PAYLOAD), MIN_BODY), canonical(header), nonce,
                                                      dek)
    sig = PUB.sig.sign(canonical(header) + nonce + body).signature
    return canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})


def test_a_degenerate_stanza_does_not_stop_a_trial():
    """A publisher's all-zero stanza (a low-order ephemeral key) is skipped like any other stanza not ours."""
    dek = os.urandom(32)
    raw = _by_hand([bytes(STANZA), bytes([0xFF]) * STANZA, SealedBox(REC.box.public_key).encrypt(dek)], dek)
    assert _open(raw, REC).payload == PAYLOAD
    with pytest.raises(NotRecipient):
        _open(raw, REC, stanza=0)


def test_more_stanzas_than_a_trial_may_try_are_refused():
    dek = os.urandom(32)
    stanza = SealedBox(REC.box.public_key).encrypt(dek)
    assert _open(_by_hand([stanza] * MAX_STANZAS, dek), REC).stanzas == MAX_STANZAS
    with pytest.raises(EnvelopeError, match="malformed recipient stanzas"):
        _open(_by_hand([stanza] * (MAX_STANZAS + 1), dek), REC)
