"""Fuzzing crypto's parsers of untrusted bytes (issue 13, item 6): signed
canonical JSON, key files, envelopes v1 and v2, recipient indexes and
padding. Whatever the input — arbitrary, a vector mutated, or correctly
signed and sealed but of any shape — each raises only its documented error,
and what it accepts holds up: it verifies only under the right key and
round-trips through the package's own writer."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.public import SealedBox

from sealedreg.crypto import envelope, envelope_v1
from sealedreg.crypto.envelope import EnvelopeError, open_envelope, parse_file, verify
from sealedreg.crypto.keys import KeyError_, OrgKeys, PublicKeys, b64, parse_keys, parse_public, parse_tagged
from sealedreg.crypto.padding import MIN_BODY, MIN_INDEX, PaddingError, pad, unpad
from sealedreg.crypto.pairwise import as_recipient
from sealedreg.crypto.recipient_index import IndexError_, open_index
from sealedreg.crypto.signed import SignatureError, canonical, load_canonical
from tests.helpers.fuzz import ANY_TEXT, FEW, FUZZ, deeply_nested, json_values, mutated, mutated_text

VECTORS = Path(__file__).parents[2] / "vectors"
V2 = json.loads((VECTORS / "seal-v2.json").read_text())
V1 = json.loads((VECTORS / "seal-v1.json").read_text())
KV = json.loads((VECTORS / "keys-v1.json").read_text())
KEYS = {role: parse_keys(json.dumps(doc).encode(), "vector", role) for role, doc in V2["keys"].items()}
PUB, REC, STRANGER = KEYS["publisher"], KEYS["recipient"], KEYS["stranger"]
NS = V2["envelope"]["namespace"]
ENV_V2 = V2["envelope"]["envelope"].encode()
ENV_V1 = V1["envelope"].encode()
V1_KEYS = {role: parse_keys(json.dumps(V1[f"{role}_key"]).encode(), "vector", role)
           for role in ("publisher", "recipient", "stranger")}
V1_REPO = V1["payload"]["repo"]

ENVELOPES_V2 = [ENV_V2] + [f["envelope"].encode() for f in V2["failures"]]
ENVELOPES_V1 = [ENV_V1] + [f["envelope"].encode() for f in V1["failures"]]
DESCRIPTORS = [d["descriptor"].encode() for d in V2["descriptors"] + V2["descriptor_failures"]]


# -- signed canonical JSON ---------------------------------------------------------------
def _load(raw: bytes):
    try:
        return load_canonical(raw, "doc", 1 << 22)
    except SignatureError:
        return None


@FUZZ
@given(raw=st.binary(max_size=400) | mutated(ENVELOPES_V2[:3] + DESCRIPTORS))
@example(raw=b'{"a":"\\ud800"}')          # a lone surrogate: UnicodeEncodeError re-encoding it
@example(raw=b'{"a":NaN}')                # not JSON at all, yet it re-encoded to itself
@example(raw=b'{"a":-Infinity}')
def test_load_canonical_raises_only_signature_error(raw):
    doc = _load(raw)
    if doc is not None:
        assert isinstance(doc, dict) and canonical(doc) == raw
        json.loads(raw, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


@FUZZ
@given(doc=st.dictionaries(st.text(max_size=8), json_values(), max_size=5))
def test_canonical_json_reads_back_as_itself(doc):
    assert load_canonical(canonical(doc), "doc") == doc
    spaced = json.dumps(doc, sort_keys=True).encode()
    if spaced != canonical(doc):
        with pytest.raises(SignatureError):
            load_canonical(spaced, "doc")


# JSON nested past the recursion limit: json.loads raises RecursionError, which
# every reader must turn into its own error (kept out of @example: too long to print).
@pytest.mark.parametrize("parse, error", [
    (lambda raw: load_canonical(raw, "doc", 1 << 22), SignatureError),
    (lambda raw: parse_keys(raw, "fuzz", "x"), KeyError_),
    (lambda raw: parse_public(raw, "fuzz", "x"), KeyError_),
    (lambda raw: parse_file(raw, envelope.VERSION), EnvelopeError),
], ids=["load_canonical", "parse_keys", "parse_public", "parse_file"])
def test_deeply_nested_json_raises_the_documented_error(parse, error):
    with pytest.raises(error):
        parse(deeply_nested())
    with pytest.raises(error):
        parse(b'{"a":' * 50_000 + b"1" + b"}" * 50_000)


# -- key files and tagged keys --------------------------------------------------------
KEY_FILES = [KV["key_file"].encode(), KV["pub_file"].encode(), PUB.to_json(), KEYS["rotated"].to_json()]
KEY_FILES += [f["file"].encode() for f in KV["key_failures"]]


def _key_doc_strategy(version: str):
    tagged = st.one_of(json_values(), st.sampled_from([PUB.public.sig_text, PUB.public.box_text, "ed25519:",
                                                       "x25519:" + "A" * 43 + "=", "ed25519:" + "A" * 44]))
    return st.fixed_dictionaries({"v": st.just(version), "sig": tagged, "box": tagged},
                                 optional={"name": json_values(), "prev": json_values() | st.fixed_dictionaries(
                                     {"sig": tagged, "box": tagged})}).map(lambda d: json.dumps(d).encode())


@FUZZ
@given(raw=st.binary(max_size=300) | mutated(KEY_FILES) | _key_doc_strategy("sealedreg-key/v1")
       | _key_doc_strategy("sealedreg-pub/v1"))
@example(raw=b'{"v":"sealedreg-key/v1","sig":"ed25519:\xff","box":1}')   # not UTF-8 inside a string
def test_key_files_raise_only_key_error(raw):
    for parse in (parse_keys, parse_public):
        try:
            keys = parse(raw, "fuzz", "default")
        except KeyError_:
            continue
        if isinstance(keys, OrgKeys):
            assert parse_keys(keys.to_json(), "again", "x").public == keys.public
        else:
            assert isinstance(keys, PublicKeys)
            assert parse_public(keys.to_json(), "again", "x") == keys


@FUZZ
@given(text=ANY_TEXT | mutated_text([PUB.public.sig_text, PUB.public.box_text]),
       tag=st.sampled_from(["ed25519", "x25519"]))
def test_parse_tagged_raises_only_key_error(text, tag):
    try:
        raw = parse_tagged(text, tag)
    except KeyError_:
        return
    assert len(raw) == 32 and text.startswith(tag + ":")
    assert parse_tagged(f"{tag}:{b64(raw)}", tag) == raw


# -- envelopes v2 ---------------------------------------------------------------------
def _open_v2(raw: bytes, *, publisher=PUB, recipient=REC, stanza=None):
    return open_envelope(raw, publisher=publisher.sig.verify_key, recipient=recipient.box, namespace=NS,
                         stanza=stanza)


def _opened(open_, samples: list[bytes]) -> list:
    """What each unchanged sample that opens says."""
    out = []
    for raw in samples:
        try:
            out.append(open_(raw))
        except EnvelopeError:
            pass
    return out


OPENED_V2 = [(o.payload, o.seq) for o in _opened(lambda raw: _open_v2(raw), ENVELOPES_V2)]


@FUZZ
@given(raw=st.binary(max_size=300) | mutated(ENVELOPES_V2), stanza=st.none() | st.integers(-2, 10))
def test_envelope_v2_raises_only_envelope_error(raw, stanza):
    try:
        opened = _open_v2(raw, stanza=stanza)
    except EnvelopeError:
        return
    # nothing but a change the signature does not cover can still open, and then it says what a vector says
    assert (opened.payload, opened.seq) in OPENED_V2


@FUZZ
@given(raw=mutated(ENVELOPES_V2))
def test_envelope_v2_verifies_only_under_its_publisher(raw):
    for who in (STRANGER, REC):
        with pytest.raises(EnvelopeError):
            verify(raw, who.sig.verify_key)
    with pytest.raises(EnvelopeError):
        _open_v2(raw, publisher=STRANGER)


@FUZZ
@given(raw=st.binary(max_size=200) | mutated(ENVELOPES_V1 + ENVELOPES_V2[:2]),
       version=st.sampled_from([envelope.VERSION, envelope_v1.VERSION]))
def test_parse_file_raises_only_envelope_error(raw, version):
    try:
        header, nonce, body, sig = parse_file(raw, version)
    except EnvelopeError:
        return
    assert header["v"] == version and len(nonce) == 24 and len(sig) == 64 and isinstance(body, bytes)


def _header_v2(overrides: dict, dek_stanza: bytes) -> dict:
    header = {"v": envelope.VERSION, "ns": NS, "seq": 3, "publisher": PUB.public.sig_text,
              "stanzas": [b64(dek_stanza)]}
    header.update(overrides)
    return header


HEADER_FIELDS = st.dictionaries(st.sampled_from(["ns", "seq", "stanzas", "publisher", "v", "extra"]),
                                json_values(), max_size=3)


@FEW
@given(overrides=HEADER_FIELDS, payload=json_values() | st.binary(max_size=64).map(bytes.hex),
       how=st.sampled_from(["json", "raw", "bad-pad"]))
@example(overrides={"seq": 1.5}, payload={}, how="json")
@example(overrides={"stanzas": {"a": 1}}, payload={}, how="json")
def test_signed_v2_envelopes_of_any_shape_raise_only_envelope_error(overrides, payload, how):
    dek = os.urandom(32)
    stanza = SealedBox(REC.box.public_key).encrypt(dek)
    header = _header_v2(overrides, stanza)
    plaintext = payload.encode() if how == "raw" and isinstance(payload, str) else canonical(payload)
    padded = pad(plaintext, MIN_BODY)
    if how == "bad-pad":
        padded = padded[:-1] + b"\x01"
    nonce = os.urandom(24)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(padded, canonical(header), nonce, dek)
    sig = PUB.sig.sign(canonical(header) + nonce + body).signature
    raw = canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})
    try:
        opened = _open_v2(raw)
    except EnvelopeError:
        return
    assert isinstance(opened.payload, dict) and opened.namespace == NS and opened.seq == header["seq"]


def test_signed_v2_envelope_holding_deeply_nested_json_is_refused():
    dek = os.urandom(32)
    header = _header_v2({}, SealedBox(REC.box.public_key).encrypt(dek))
    nonce = os.urandom(24)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(pad(b"[" * 3000 + b"]" * 3000, MIN_BODY), canonical(header),
                                                      nonce, dek)
    sig = PUB.sig.sign(canonical(header) + nonce + body).signature
    raw = canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})
    with pytest.raises(EnvelopeError, match="JSON"):
        _open_v2(raw)


# -- envelopes v1 (read only) ---------------------------------------------------------
def _open_v1(raw: bytes, publisher=None):
    return envelope_v1.open_envelope(raw, publisher=(publisher or V1_KEYS["publisher"]).sig.verify_key,
                                     recipient=V1_KEYS["recipient"].box, namespace=NS,
                                     envelope_id=json.loads(ENV_V1)["header"]["id"])


OPENED_V1 = [o.payload for o in _opened(_open_v1, ENVELOPES_V1)]


@FUZZ
@given(raw=st.binary(max_size=200) | mutated(ENVELOPES_V1))
def test_envelope_v1_raises_only_envelope_error(raw):
    try:
        opened = _open_v1(raw)
    except EnvelopeError:
        return
    assert opened.payload in OPENED_V1      # a vector (some are genuine but for another repository)
    with pytest.raises(EnvelopeError):
        _open_v1(raw, publisher=V1_KEYS["stranger"])


@FEW
@given(recipients=json_values(), extra=HEADER_FIELDS)
@example(recipients=5, extra={})                        # TypeError: an int is not iterable
@example(recipients=[{"kid": "x"}], extra={"seq": True})
def test_signed_v1_envelopes_of_any_shape_raise_only_envelope_error(recipients, extra):
    pub, rec = V1_KEYS["publisher"], V1_KEYS["recipient"]
    header = {**json.loads(ENV_V1)["header"], **extra, "recipients": recipients}
    if isinstance(recipients, list) and recipients and isinstance(recipients[0], dict):
        recipients[0]["kid"] = rec.public.kid      # let the parser find "its" stanza
    dek = os.urandom(32)
    nonce = os.urandom(24)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(b"{}", canonical(header), nonce, dek)
    sig = pub.sig.sign(canonical(header) + nonce + body).signature
    raw = canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})
    try:
        _open_v1(raw)
    except EnvelopeError:
        pass


# -- recipient indexes ----------------------------------------------------------------
I = V2["index"]
INDEXES = [bytes.fromhex(I["index_hex"])] + [bytes.fromhex(f["index_hex"]) for f in V2["index_failures"]]
PAIR = as_recipient(REC.box, PUB.box.public_key, I["namespace"])


@FUZZ
@given(raw=st.binary(max_size=200) | mutated(INDEXES))
def test_open_index_raises_only_index_error(raw):
    try:
        entries = open_index(raw, pair=PAIR, namespace=I["namespace"], seq=I["seq"])
    except IndexError_:
        return
    assert [(e.repo, e.envelope, e.stanza) for e in entries] == [(e["repo"], e["envelope"], e["stanza"])
                                                                 for e in I["entries"]]


def _sealed_index(plaintext: bytes, padded: bytes | None = None) -> bytes:
    nonce = os.urandom(24)
    aad = f"sealedreg-index/v2\0{I['namespace']}\0{I['seq']}".encode()
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(padded or pad(plaintext, MIN_INDEX), aad, nonce,
                                                              PAIR.index_key)


@FEW
@given(entries=json_values(), doc_extra=st.dictionaries(st.sampled_from(["v", "ns", "seq"]), json_values(),
                                                          max_size=2))
@example(entries=[{"repo": "a", "envelope": "b", "stanza": 1e400}], doc_extra={})   # OverflowError: int(inf)
@example(entries=[{"repo": "a", "envelope": "b", "stanza": "٣"}], doc_extra={})
def test_sealed_indexes_of_any_shape_raise_only_index_error(entries, doc_extra):
    doc = {"v": "sealedreg-index/v2", "ns": I["namespace"], "seq": I["seq"], "entries": entries, **doc_extra}
    try:
        opened = open_index(_sealed_index(json.dumps(doc).encode()), pair=PAIR, namespace=I["namespace"],
                            seq=I["seq"])
    except IndexError_:
        return
    assert all(isinstance(e.stanza, int) and isinstance(e.repo, str) for e in opened)


@pytest.mark.parametrize("plaintext", [deeply_nested(), b'{"entries":[{"repo":"a","envelope":"b","stanza":Infinity}]}',
                                       b"\xff\xfe"])
def test_sealed_index_with_hostile_json_is_refused(plaintext):
    with pytest.raises(IndexError_):
        open_index(_sealed_index(plaintext), pair=PAIR, namespace=I["namespace"], seq=I["seq"])


# -- padding --------------------------------------------------------------------------
@FUZZ
@given(raw=st.binary(max_size=300) | mutated([pad(b"x" * n, 16) for n in (0, 5, 12, 40)]),
       minimum=st.sampled_from([1, 4, 16, 64, MIN_INDEX]))
def test_unpad_raises_only_padding_error_and_accepts_one_form(raw, minimum):
    try:
        data = unpad(raw, minimum)
    except PaddingError:
        return
    # the form §8.5 reads: length prefix, data, zeros, to a bucket. Not necessarily the
    # *smallest* bucket (`pad` writes that; §8.5 does not make a reader refuse a larger one)
    assert raw == len(data).to_bytes(4, "big") + data + bytes(len(raw) - 4 - len(data))
    assert len(pad(data, minimum)) <= len(raw)


def test_unpad_accepts_a_larger_bucket_than_pad_writes():
    """Documented behaviour, pinned: §8.5 refuses a length that is no bucket, a prefix past
    the end and non-zero padding — not a bucket larger than needed (inside the AEAD, only the
    publisher can write one)."""
    assert unpad(bytes(16), 1) == b"" and pad(b"", 1) == bytes(4)
