"""Regenerate tests/vectors/seal-v1.json (only when the format version changes).

    python -m tests.vectors.make_seal_v1 > tests/vectors/seal-v1.json

Sealing is randomised (DEK, nonce, sealed-box ephemeral keys), so the vector
is one envelope made once, with the fixed keys that must open it. `failures`
are envelopes (mostly that one, changed) that a reader opening the named
repository as `as` must refuse, with the error it must give.

sealedreg no longer writes v1 (it only reads it: docs/format.md §8.7), so the
v1 writer lives here, as the format's reference.
"""

import base64
import json
import os

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_encrypt
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import SigningKey

from sealedreg.crypto.keys import OrgKeys, b64, kid
from sealedreg.crypto.signed import canonical
from sealedreg.publish.layout import v1_envelope_id as envelope_id


def seal(payload: dict, *, namespace: str, envelope_id: str, seq: int, publisher: OrgKeys,
         recipients: list[PublicKey]) -> bytes:
    """A sealedreg-seal/v1 envelope: stanzas named by kid, sorted; no padding."""
    dek = os.urandom(32)
    stanzas = {kid(bytes(pk)): b64(SealedBox(pk).encrypt(dek)) for pk in recipients}
    header = {"v": "sealedreg-seal/v1", "ns": namespace, "id": envelope_id, "seq": seq,
              "publisher": "ed25519:" + b64(bytes(publisher.sig.verify_key)),
              "recipients": [{"kid": k, "key": v} for k, v in sorted(stanzas.items())]}
    nonce = os.urandom(24)
    aad = canonical(header)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(canonical(payload), aad, nonce, dek)
    sig = publisher.sig.sign(aad + nonce + body).signature
    return canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})

PUBLISHER = OrgKeys("example.com", SigningKey(bytes(range(32))), PrivateKey(bytes(range(32, 64))))
RECIPIENT = OrgKeys("partner.org", SigningKey(bytes(range(64, 96))), PrivateKey(bytes(range(96, 128))))
STRANGER = OrgKeys("stranger.net", SigningKey(bytes(range(128, 160))), PrivateKey(bytes(range(160, 192))))
MALLORY = OrgKeys("mallory.net", SigningKey(bytes(range(192, 224))), PrivateKey(bytes(range(224, 256))))
REPO = "example.com/secret"
PAYLOAD = {"v": 1, "repo": REPO, "tags": {"1.0": "sha256:" + "ab" * 32}, "manifests": {},
           "layers": {"sha256:" + "cd" * 32: {"cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                                               "size": 0, "domain": "org", "key": b64(bytes(32))}}}
SEQ = 7


def _seal(payload: dict, publisher: OrgKeys = PUBLISHER, seq: int = SEQ) -> bytes:
    return seal(payload, namespace="example.com", envelope_id=envelope_id("example.com", REPO), seq=seq,
                publisher=publisher, recipients=[PUBLISHER.box.public_key, RECIPIENT.box.public_key])


def _flip(text: str) -> str:
    raw = bytearray(base64.b64decode(text))
    raw[5 % len(raw)] ^= 1
    return base64.b64encode(bytes(raw)).decode()


def failures(envelope: bytes) -> list[dict]:
    def changed(fn) -> str:
        doc = json.loads(envelope)
        fn(doc)
        return canonical(doc).decode()

    def swap_stanzas(doc: dict) -> None:
        a, b = doc["header"]["recipients"]
        a["key"], b["key"] = b["key"], a["key"]

    resigned = json.loads(_seal(PAYLOAD, publisher=MALLORY))
    resigned["header"]["publisher"] = "ed25519:" + b64(bytes(PUBLISHER.sig.verify_key))
    text = envelope.decode()
    cases = [
        ("changed body", changed(lambda d: d.update(body=_flip(d["body"]))), {}, "bad signature"),
        ("changed nonce", changed(lambda d: d.update(nonce=_flip(d["nonce"]))), {}, "bad signature"),
        ("changed sequence number", changed(lambda d: d["header"].update(seq=SEQ + 1)), {}, "bad signature"),
        ("recipient stanzas swapped", changed(swap_stanzas), {}, "bad signature"),
        ("signed by another key", _seal(PAYLOAD, publisher=MALLORY).decode(), {}, "expected publisher"),
        ("another key's signature under the publisher's name", canonical(resigned).decode(), {}, "bad signature"),
        ("not canonical JSON", json.dumps(json.loads(envelope), indent=1), {}, "canonical"),
        ("cut short", text[:len(text) // 2], {}, "not JSON"),
        ("another version", changed(lambda d: d["header"].update(v="sealedreg-seal/v0")), {}, "not a sealedreg-seal"),
        ("opened as another repository", text, {"repo": "example.com/other"}, "not the one for"),
        ("payload names another repository", _seal({**PAYLOAD, "repo": "example.com/other"}).decode(), {},
         "not the one for"),
        ("older than one already seen", text, {"min_seq": SEQ + 1}, "rollback"),
        ("opened by a stranger", text, {"as": "stranger"}, "not a recipient"),
    ]
    return [{"name": name, "envelope": env, "repo": opts.get("repo", REPO), "min_seq": opts.get("min_seq", 0),
             "as": opts.get("as", "recipient"), "error": error} for name, env, opts, error in cases]


def main() -> None:
    envelope = _seal(PAYLOAD)
    print(json.dumps({
        "format": "sealedreg-seal/v1",
        "publisher_key": json.loads(PUBLISHER.to_json()),
        "recipient_key": json.loads(RECIPIENT.to_json()),
        "stranger_key": json.loads(STRANGER.to_json()),
        "envelope": envelope.decode(),
        "payload": PAYLOAD,
        "seq": SEQ,
        "failures": failures(envelope),
    }, indent=2))


if __name__ == "__main__":
    main()
