"""Regenerate tests/vectors/seal-v2.json (only when the format version changes).

    python -m tests.vectors.make_seal_v2 > tests/vectors/seal-v2.json

Fixed keys (`keys`, by role) and what follows from them alone — size buckets
and padding (`padding`), the secrets a publisher shares with a recipient
(`pairwise`), rotation descriptors (`descriptors`) — must come out the same
every time. Sealing is randomised (DEK, nonce, sealed-box ephemeral keys,
stanza order, index nonce), so `envelope` and `index` are made once: the
fixed keys must open them, at the positions recorded.

Failure lists say what a reader must refuse, and the error it must give:

    padding_failures     `padded_hex` unpadded to `minimum`
    pairwise_failures    a pair made with `public_hex` as the other side's box key
    failures             `envelope` opened with the publisher's signing key, as
                         `as` (a box key), for `namespace`, after `min_seq`,
                         at `stanza` (null: by trial)
    index_failures       `index_hex` opened with the example.com pair of the
                         publisher and `as`, for `namespace` at `seq`
    descriptor_failures  `descriptor` verified with `key`'s signing key, for
                         `namespace` (null: any), after `min_seq`, at `now`
                         (null: no expiry check)

Envelopes that are validly signed yet malformed inside (a body whose
padding is cut short, a stanza of the wrong length) cannot be made with
`envelope.seal`; `forge` below builds them the same way, by hand.
"""

import base64
import hashlib
import json
import os
import struct

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from sealedreg.crypto import recipient_index
from sealedreg.crypto.envelope import seal
from sealedreg.crypto.keys import OrgKeys, b64
from sealedreg.crypto.padding import MIN_BODY, MIN_COUNT, MIN_INDEX, bucket, pad
from sealedreg.crypto.pairwise import as_publisher, shared_secret
from sealedreg.crypto.recipient_index import IndexEntry, filler, seal_index
from sealedreg.crypto.signed import canonical
from sealedreg.publish.descriptor import make_descriptor

PUBLISHER = OrgKeys("example.com", SigningKey(bytes(range(32))), PrivateKey(bytes(range(32, 64))))
RECIPIENT = OrgKeys("partner.org", SigningKey(bytes(range(64, 96))), PrivateKey(bytes(range(96, 128))))
STRANGER = OrgKeys("stranger.net", SigningKey(bytes(range(128, 160))), PrivateKey(bytes(range(160, 192))))
MALLORY = OrgKeys("mallory.net", SigningKey(bytes(range(192, 224))), PrivateKey(bytes(range(224, 256))))
ROTATED = OrgKeys("example.com", SigningKey(bytes(range(0, 64, 2))), PrivateKey(bytes(range(1, 65, 2))),
                  previous=PUBLISHER)
ROLES = {"publisher": PUBLISHER, "recipient": RECIPIENT, "stranger": STRANGER, "mallory": MALLORY,
         "rotated": ROTATED}

NAMESPACE = "example.com"
REPO = "example.com/secret"
PAYLOAD = {"v": 1, "repo": REPO, "tags": {"1.0": "sha256:" + "ab" * 32}, "manifests": {},
           "layers": {"sha256:" + "cd" * 32: {"cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                                               "size": 0, "domain": "org", "key": b64(bytes(32))}}}
SEQ = 7
ENVELOPE_ID = hashlib.sha256(b"sealedreg-seal/v2 vector envelope").hexdigest()
EXPIRES = 4102444800  # 2100-01-01
PAST, NOW = 1_700_000_000, 1_800_000_000
CONTENT = {"repos": "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",
           "sealed": "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"}
LOW_ORDER = {"the all-zero point": bytes(32),
             "the point of order 8": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")}


def _pair(recipient: OrgKeys, namespace: str = NAMESPACE):
    return as_publisher(PUBLISHER.box, recipient.box.public_key, namespace)


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[5 % len(raw)] ^= 1
    return base64.b64encode(bytes(raw)).decode()


# -- padding -----------------------------------------------------------------------
def padding() -> dict:
    buckets = [(0, 8), (1, 8), (8, 8), (9, 8), (3, 5), (0, 1), (1, 1), (3, 1), (1000, 1024), (1025, 1024),
               (0, 4096), (4095, 4096), (4096, 4096), (4097, 4096), (1 << 20, 4096), ((1 << 20) + 1, 4096)]
    data = [b"", b"sealedreg", b"twelve bytes", b"thirteen byte", bytes(range(40))]
    return {"buckets": [{"n": n, "minimum": m, "bucket": bucket(n, m)} for n, m in buckets],
            "pads": [{"data_hex": d.hex(), "minimum": 16, "padded_hex": pad(d, 16).hex()} for d in data]}


def padding_failures() -> list[dict]:
    good = pad(b"sealedreg", 16)
    nonzero = bytearray(good)
    nonzero[-1] = 1
    cases = [
        ("cut short by a byte", good[:-1], "not a size bucket"),
        ("cut short by a block", pad(bytes(20), 16)[:16 + 8], "not a size bucket"),
        ("empty", b"", "not a size bucket"),
        ("a power of two below the minimum", pad(b"abc", 8), "not a size bucket"),
        ("longer than a bucket", good + bytes(1), "not a size bucket"),
        ("a length prefix one past the end", struct.pack(">I", 13) + bytes(12), "runs past"),
        ("the largest length prefix", struct.pack(">I", 0xFFFFFFFF) + bytes(12), "runs past"),
        ("padding that is not zeros", bytes(nonzero), "not zeros"),
        ("data hidden after the padding's start", struct.pack(">I", 0) + b"x" + bytes(11), "not zeros"),
    ]
    return [{"name": name, "padded_hex": raw.hex(), "minimum": 16, "error": error} for name, raw, error in cases]


# -- pairwise ----------------------------------------------------------------------
def pairwise() -> list[dict]:
    out = []
    for name, recipient, namespace in [("publisher and recipient", RECIPIENT, NAMESPACE),
                                       ("publisher and itself", PUBLISHER, NAMESPACE),
                                       ("publisher and recipient, another namespace", RECIPIENT, "other.org")]:
        pair = _pair(recipient, namespace)
        out.append({"name": name, "publisher": "publisher", "recipient": "publisher" if recipient is PUBLISHER
                    else "recipient", "namespace": namespace,
                    "shared_secret_hex": shared_secret(PUBLISHER.box, recipient.box.public_key).hex(),
                    "name_key_hex": pair.name_key.hex(), "index_key_hex": pair.index_key.hex(),
                    "index_names": {str(seq): pair.index_name(seq) for seq in (SEQ, SEQ + 1)}})
    return out


def pairwise_failures() -> list[dict]:
    return [{"name": name, "public_hex": key.hex(), "error": "low-order"} for name, key in LOW_ORDER.items()]


# -- envelopes ---------------------------------------------------------------------
def forge(padded: bytes, *, recipients: list[PublicKey] | None = None, stanzas: list[str] | None = None,
          header: dict | None = None, body_key: bytes | None = None) -> str:
    """An envelope built as `envelope.seal` builds one, but encrypting `padded`
    as it is (not necessarily a bucket), with `stanzas` or `header` fields in
    place of the honest ones, or the body under another key — and signed by
    the publisher."""
    dek = os.urandom(32)
    if recipients is None:
        recipients = [PUBLISHER.box.public_key, RECIPIENT.box.public_key]
    if stanzas is None:
        sealed = [SealedBox(pk).encrypt(dek) for pk in recipients]
        sealed += [SealedBox(PrivateKey.generate().public_key).encrypt(os.urandom(32))
                   for _ in range(bucket(len(sealed), MIN_COUNT) - len(sealed))]
        stanzas = [b64(s) for s in sealed]
    fields = {"v": "sealedreg-seal/v2", "ns": NAMESPACE, "seq": SEQ,
              "publisher": "ed25519:" + b64(bytes(PUBLISHER.sig.verify_key)), "stanzas": stanzas, **(header or {})}
    nonce = os.urandom(24)
    aad = canonical(fields)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(padded, aad, nonce, body_key or dek)
    sig = PUBLISHER.sig.sign(aad + nonce + body).signature
    return canonical({"header": fields, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)}).decode()


def failures(envelope: bytes, positions: tuple[int, ...]) -> list[dict]:
    def changed(fn) -> str:
        doc = json.loads(envelope)
        fn(doc)
        return canonical(doc).decode()

    def swap_stanzas(doc: dict) -> None:
        s, (a, b) = doc["header"]["stanzas"], positions
        s[a], s[b] = s[b], s[a]

    def sealed(payload: dict = PAYLOAD, publisher: OrgKeys = PUBLISHER, namespace: str = NAMESPACE) -> str:
        return seal(payload, namespace=namespace, seq=SEQ, publisher=publisher,
                    recipients=[PUBLISHER.box.public_key, RECIPIENT.box.public_key]).raw.decode()

    resigned = json.loads(sealed(publisher=MALLORY))
    resigned["header"]["publisher"] = "ed25519:" + b64(bytes(PUBLISHER.sig.verify_key))
    text = envelope.decode()
    body = canonical(PAYLOAD)
    good = pad(body, MIN_BODY)
    nonzero = bytearray(good)
    nonzero[-1] = 1
    stanza = b64(SealedBox(RECIPIENT.box.public_key).encrypt(os.urandom(32)))
    cases = [
        ("changed body", changed(lambda d: d.update(body=_flip(d["body"]))), {}, "bad signature"),
        ("changed nonce", changed(lambda d: d.update(nonce=_flip(d["nonce"]))), {}, "bad signature"),
        ("changed signature", changed(lambda d: d.update(sig=_flip(d["sig"]))), {}, "bad signature"),
        ("changed sequence number", changed(lambda d: d["header"].update(seq=SEQ + 1)), {}, "bad signature"),
        ("changed namespace", changed(lambda d: d["header"].update(ns="other.org")), {"namespace": "other.org"},
         "bad signature"),
        ("recipient stanzas swapped", changed(swap_stanzas), {}, "bad signature"),
        ("a stanza dropped", changed(lambda d: d["header"]["stanzas"].pop()), {}, "bad signature"),
        ("signed by another key", sealed(publisher=MALLORY), {}, "expected publisher"),
        ("another key's signature under the publisher's name", canonical(resigned).decode(), {}, "bad signature"),
        ("a malformed publisher key", changed(lambda d: d["header"].update(publisher="ed25519:AAAA")), {},
         "malformed publisher key"),
        ("not canonical JSON", json.dumps(json.loads(envelope), indent=1), {}, "canonical"),
        ("cut short", text[:len(text) // 2], {}, "not JSON"),
        ("not an envelope", canonical({"header": {}}).decode(), {}, "not a sealed envelope"),
        ("a short nonce", changed(lambda d: d.update(nonce=b64(bytes(12)))), {}, "malformed nonce"),
        ("another version", changed(lambda d: d["header"].update(v="sealedreg-seal/v1")), {},
         "not a sealedreg-seal/v2"),
        ("opened for another namespace", text, {"namespace": "other.org"}, "not for other.org"),
        ("sealed for another namespace", sealed(namespace="other.org"), {}, "not for example.com"),
        ("older than one already seen", text, {"min_seq": SEQ + 1}, "rollback"),
        ("a malformed sequence number", forge(good, header={"seq": str(SEQ)}), {}, "malformed sequence"),
        ("opened by a stranger", text, {"as": "stranger"}, "not a recipient"),
        ("opened by a stranger at a stanza", text, {"as": "stranger", "stanza": positions[1]},
         "at the stanza its index names"),
        ("the wrong stanza named by an index", text, {"stanza": positions[0]}, "at the stanza its index names"),
        ("truncated padding", forge(good[:-1]), {}, "not a size bucket"),
        ("padded below the smallest body", forge(pad(body, MIN_BODY // 2)), {}, "not a size bucket"),
        ("a length prefix past the padding", forge(struct.pack(">I", MIN_BODY) + good[4:]), {}, "runs past"),
        ("padding that is not zeros", forge(bytes(nonzero)), {}, "not zeros"),
        ("a body that is not JSON", forge(pad(b"not json", MIN_BODY)), {}, "does not hold JSON"),
        ("a body that is not an object", forge(pad(b"[1,2]", MIN_BODY)), {}, "not hold a JSON object"),
        ("the body under another key than the stanzas'", forge(good, body_key=os.urandom(32)), {},
         "cannot open"),
        ("a stanza of the wrong length", forge(good, stanzas=[stanza[:-4]]), {}, "malformed recipient stanzas"),
        ("a stanza that is not base64", forge(good, stanzas=["%" * 108]), {}, "malformed recipient stanzas"),
        ("no stanzas", forge(good, stanzas=[]), {}, "malformed recipient stanzas"),
    ]
    return [{"name": name, "envelope": env, "as": opts.get("as", "recipient"),
             "namespace": opts.get("namespace", NAMESPACE), "min_seq": opts.get("min_seq", 0),
             "stanza": opts.get("stanza"), "error": error} for name, env, opts, error in cases]


# -- recipient index ---------------------------------------------------------------
def _index_by_hand(doc: dict | bytes, seq: int = SEQ) -> bytes:
    """An index encrypted with the recipient's pair for `seq`, of any plaintext."""
    padded = doc if isinstance(doc, bytes) else pad(canonical(doc), MIN_INDEX)
    nonce = os.urandom(24)
    aad = f"{recipient_index.VERSION}\0{NAMESPACE}\0{seq}".encode()
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(padded, aad, nonce, _pair(RECIPIENT).index_key)


def index_failures(index: bytes) -> list[dict]:
    doc = {"v": recipient_index.VERSION, "ns": NAMESPACE, "seq": SEQ,
           "entries": [{"repo": REPO, "envelope": ENVELOPE_ID, "stanza": 1}]}
    cases = [
        ("opened with a stranger's pair", index, {"as": "stranger"}, "does not open"),
        ("opened with the publisher's own pair", index, {"as": "publisher"}, "does not open"),
        ("opened for another sequence number", index, {"seq": SEQ + 1}, "does not open"),
        ("opened for another namespace", index, {"namespace": "other.org"}, "does not open"),
        ("cut short", index[:-1], {}, "does not open"),
        ("shorter than a nonce and tag", index[:39], {}, "not a recipient index"),
        ("a filler", filler(len(index)), {}, "does not open"),
        ("a changed byte", index[:-1] + bytes([index[-1] ^ 1]), {}, "does not open"),
        ("another sequence number inside", _index_by_hand({**doc, "seq": SEQ + 1}), {}, "another tree"),
        ("another namespace inside", _index_by_hand({**doc, "ns": "other.org"}), {}, "another tree"),
        ("another version inside", _index_by_hand({**doc, "v": "sealedreg-index/v1"}), {}, "another tree"),
        ("truncated padding", _index_by_hand(pad(canonical(doc), MIN_INDEX)[:-1]), {}, "not a size bucket"),
        ("entries missing", _index_by_hand({k: v for k, v in doc.items() if k != "entries"}), {}, "malformed"),
        ("an entry without a stanza", _index_by_hand({**doc, "entries": [{"repo": REPO, "envelope": "x"}]}), {},
         "malformed"),
    ]
    return [{"name": name, "index_hex": raw.hex(), "as": opts.get("as", "recipient"),
             "namespace": opts.get("namespace", NAMESPACE), "seq": opts.get("seq", SEQ), "error": error}
            for name, raw, opts, error in cases]


# -- descriptors -------------------------------------------------------------------
def descriptors() -> list[dict]:
    rotation = make_descriptor(NAMESPACE, 9, ROTATED, expires=EXPIRES, content=CONTENT).decode()
    plain = make_descriptor(NAMESPACE, 8, PUBLISHER, expires=EXPIRES, content=CONTENT).decode()
    return [
        {"name": "a rotation, trusting the old key", "descriptor": rotation, "key": "publisher",
         "namespace": NAMESPACE, "min_seq": 9, "now": NOW, "signer": ROTATED.public.sig_text,
         "rotated_from": PUBLISHER.public.sig_text},
        {"name": "a rotation, trusting the new key", "descriptor": rotation, "key": "rotated",
         "namespace": NAMESPACE, "min_seq": 9, "now": NOW, "signer": ROTATED.public.sig_text, "rotated_from": None},
        {"name": "before the rotation", "descriptor": plain, "key": "publisher", "namespace": NAMESPACE,
         "min_seq": 8, "now": NOW, "signer": PUBLISHER.public.sig_text, "rotated_from": None},
    ]


def descriptor_failures() -> list[dict]:
    rotation = json.loads(make_descriptor(NAMESPACE, 9, ROTATED, expires=EXPIRES, content=CONTENT))
    fields = {k: v for k, v in rotation.items() if k not in ("sig", "prev_sig")}

    def with_sigs(sig: OrgKeys | None, prev_sig: OrgKeys | None, **changes) -> str:
        """The rotation, changed, with `sig` and `prev_sig` (when given) by these keys."""
        doc = {**fields, **changes}
        signed = canonical(doc)
        if sig is not None:
            doc["sig"] = b64(sig.sig.sign(signed).signature)
        if prev_sig is not None:
            doc["prev_sig"] = b64(prev_sig.sig.sign(signed).signature)
        return canonical(doc).decode()

    assert with_sigs(ROTATED, PUBLISHER) == canonical(rotation).decode()
    to_mallory = {"pub": {"sig": MALLORY.public.sig_text, "box": MALLORY.public.box_text}}
    redirected = {**json.loads(with_sigs(MALLORY, None, **to_mallory)), "prev_sig": rotation["prev_sig"]}
    names_mallory = {k: v for k, v in json.loads(make_descriptor(NAMESPACE, 9, PUBLISHER)).items() if k != "sig"}
    names_mallory["pub"] = to_mallory["pub"]
    names_mallory["sig"] = b64(PUBLISHER.sig.sign(canonical(names_mallory)).signature)
    cases = [
        ("expired", make_descriptor(NAMESPACE, 9, PUBLISHER, expires=PAST).decode(), {"now": NOW}, "expired"),
        ("a rotation, expired", make_descriptor(NAMESPACE, 9, ROTATED, expires=PAST).decode(), {"now": NOW},
         "expired"),
        ("no expiry, when the time is known", make_descriptor(NAMESPACE, 9, PUBLISHER).decode(), {"now": NOW},
         "no expiry"),
        ("signed by the pre-rotation key only",
         make_descriptor(NAMESPACE, 10, PUBLISHER, expires=EXPIRES, content=CONTENT).decode(),
         {"key": "rotated"}, "expected publisher"),
        ("a rotation without the old key's countersignature", with_sigs(ROTATED, None), {}, "rotation both"),
        ("a rotation countersigned by another key", with_sigs(ROTATED, MALLORY), {}, "rotation both"),
        ("a rotation the new key did not sign", with_sigs(None, PUBLISHER), {}, "rotation both"),
        ("a rotation to a key that did not sign", with_sigs(ROTATED, PUBLISHER, **to_mallory), {},
         "rotation both"),
        ("a rotation redirected to another key", canonical(redirected).decode(), {}, "rotation both"),
        ("a rotation to a malformed key", with_sigs(None, PUBLISHER, pub={"sig": "ed25519:AAAA", "box": "x"}), {},
         "malformed new key"),
        ("a rotation, trusting neither key", canonical(rotation).decode(), {"key": "mallory"},
         "expected publisher"),
        ("a rotation, already seen", canonical(rotation).decode(), {"min_seq": 10}, "already seen"),
        ("a rotation, for another namespace", canonical(rotation).decode(), {"namespace": "other.org"},
         "not 'other.org'"),
        ("naming another key than the one that signed it", canonical(names_mallory).decode(), {},
         "names another key"),
    ]
    return [{"name": name, "descriptor": raw, "key": opts.get("key", "publisher"),
             "namespace": opts.get("namespace", NAMESPACE), "min_seq": opts.get("min_seq", 0),
             "now": opts.get("now"), "error": error} for name, raw, opts, error in cases]


def main() -> None:
    sealed = seal(PAYLOAD, namespace=NAMESPACE, seq=SEQ, publisher=PUBLISHER,
                  recipients=[PUBLISHER.box.public_key, RECIPIENT.box.public_key])
    entries = [IndexEntry(REPO, ENVELOPE_ID, sealed.positions[1])]
    index = seal_index(entries, pair=_pair(RECIPIENT), namespace=NAMESPACE, seq=SEQ)
    print(json.dumps({
        "format": "sealedreg-seal/v2",
        "keys": {role: json.loads(keys.to_json()) for role, keys in ROLES.items()},
        "padding": padding(),
        "padding_failures": padding_failures(),
        "pairwise": pairwise(),
        "pairwise_failures": pairwise_failures(),
        "envelope": {"id": ENVELOPE_ID, "envelope": sealed.raw.decode(), "namespace": NAMESPACE, "seq": SEQ,
                     "payload": PAYLOAD, "recipients": ["publisher", "recipient"],
                     "positions": {"publisher": sealed.positions[0], "recipient": sealed.positions[1]}},
        "failures": failures(sealed.raw, sealed.positions),
        "index": {"index_hex": index.hex(), "as": "recipient", "namespace": NAMESPACE, "seq": SEQ,
                  "name": _pair(RECIPIENT).index_name(SEQ),
                  "entries": [{"repo": e.repo, "envelope": e.envelope, "stanza": e.stanza} for e in entries]},
        "index_failures": index_failures(index),
        "descriptors": descriptors(),
        "descriptor_failures": descriptor_failures(),
    }, indent=2))


if __name__ == "__main__":
    main()
