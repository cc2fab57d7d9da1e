"""`sealedreg-seal/v1`: a JSON document sealed to its recipients and signed by
its publisher (docs/format.md §8). What goes in it, and what the envelope's
`id` names, is the namespace tree's business (`sealedreg.publish.sealing`).

    DEK    = 32 random bytes
    header = {"v":"sealedreg-seal/v1","ns":…,"id":…,"seq":N,"publisher":"ed25519:<b64>",
              "recipients":[{"kid":"<16 hex>","key":"<b64 SealedBox(box pk).encrypt(DEK)>"},…]}
    body   = XChaCha20-Poly1305(DEK, nonce (24 random bytes), plaintext, AAD = canonical(header))
    sig    = Ed25519(publisher, canonical(header) ‖ nonce ‖ body)
    file   = {"header": header, "nonce": b64, "body": b64, "sig": b64}

`canonical` is JSON with sorted keys and no spaces. Opening checks the
signature against the publisher key the caller trusts (from DNS) *before*
anything is decrypted, then refuses a `seq` lower than the caller has seen.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PublicKey, SealedBox
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import OrgKeys, b64, kid, parse_tagged
from sealedreg.crypto.signed import SignatureError, canonical, load_canonical

VERSION = "sealedreg-seal/v1"
MAX_ENVELOPE = 16 << 20


class EnvelopeError(ValueError):
    """An envelope that must not be trusted or cannot be opened by this key."""


class EnvelopeMismatch(EnvelopeError):
    """A genuine envelope, but not the one asked for (another namespace or id)."""


@dataclass(frozen=True)
class Opened:
    namespace: str
    id: str
    seq: int
    publisher: str
    recipients: list[str]  # kids
    payload: dict


def seal(payload: dict, *, namespace: str, envelope_id: str, seq: int, publisher: OrgKeys,
         recipients: list[PublicKey]) -> bytes:
    """Seal `payload` (JSON) to `recipients` (the publisher should be one of them
    to read its own envelope back) and sign it."""
    if not recipients:
        raise EnvelopeError("an envelope needs at least one recipient")
    dek = os.urandom(32)
    stanzas = {}
    for pk in recipients:
        stanzas[kid(bytes(pk))] = b64(SealedBox(pk).encrypt(dek))
    header = {"v": VERSION, "ns": namespace, "id": envelope_id, "seq": seq,
              "publisher": "ed25519:" + b64(bytes(publisher.sig.verify_key)),
              "recipients": [{"kid": k, "key": v} for k, v in sorted(stanzas.items())]}
    nonce = os.urandom(24)
    aad = canonical(header)
    body = crypto_aead_xchacha20poly1305_ietf_encrypt(canonical(payload), aad, nonce, dek)
    sig = publisher.sig.sign(aad + nonce + body).signature
    return canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})


def _parse(raw: bytes) -> tuple[dict, bytes, bytes, bytes]:
    try:
        doc = load_canonical(raw, "envelope", MAX_ENVELOPE)
    except SignatureError as exc:
        raise EnvelopeError(str(exc)) from None
    try:
        header, nonce, body, sig = doc["header"], doc["nonce"], doc["body"], doc["sig"]
        nonce, body, sig = (base64.b64decode(x, validate=True) for x in (nonce, body, sig))
    except (ValueError, KeyError, TypeError):
        raise EnvelopeError("not a sealed envelope") from None
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise EnvelopeError(f"not a {VERSION} envelope")
    if len(nonce) != 24 or len(sig) != 64:
        raise EnvelopeError("malformed nonce or signature")
    return header, nonce, body, sig


def _verified(raw: bytes, publisher: VerifyKey) -> tuple[dict, bytes, bytes]:
    header, nonce, body, sig = _parse(raw)
    try:
        claimed = parse_tagged(str(header.get("publisher", "")), "ed25519")
    except ValueError:
        raise EnvelopeError("malformed publisher key") from None
    if claimed != bytes(publisher):
        raise EnvelopeError("envelope is not from the expected publisher")
    try:
        publisher.verify(canonical(header) + nonce + body, sig)
    except BadSignatureError:
        raise EnvelopeError("bad signature: the envelope was changed or forged") from None
    return header, nonce, body


def verify(raw: bytes, publisher: VerifyKey) -> dict:
    """Check the signature against the trusted publisher key; return the header."""
    return _verified(raw, publisher)[0]


def open_envelope(raw: bytes, *, publisher: VerifyKey, recipient: OrgKeys, namespace: str, envelope_id: str,
                  min_seq: int = 0) -> Opened:
    """Verify, then decrypt with `recipient`'s box key.

    The envelope must say it is `envelope_id` in `namespace`: a publisher's
    envelope for something else, served in its place, is refused. `min_seq`
    is the highest sequence number already seen for this envelope: anything
    lower is a replay."""
    header, nonce, body = _verified(raw, publisher)
    if header.get("ns") != namespace or header.get("id") != envelope_id:
        raise EnvelopeMismatch(f"this envelope is not {namespace}/{envelope_id}")
    seq = header.get("seq")
    if not isinstance(seq, int) or seq < 0:
        raise EnvelopeError("malformed sequence number")
    if seq < min_seq:
        raise EnvelopeError(f"sequence {seq} is older than {min_seq}, already seen: refusing a rollback")
    mine = kid(bytes(recipient.box.public_key))
    stanzas = [r for r in header.get("recipients") or [] if isinstance(r, dict) and r.get("kid") == mine]
    if not stanzas:
        raise EnvelopeError("not a recipient of this envelope")
    try:
        dek = SealedBox(recipient.box).decrypt(base64.b64decode(stanzas[0]["key"], validate=True))
        plaintext = crypto_aead_xchacha20poly1305_ietf_decrypt(body, canonical(header), nonce, dek)
        payload = json.loads(plaintext)
    except (CryptoError, ValueError, KeyError, TypeError):
        raise EnvelopeError("cannot open: wrong key or tampered contents") from None
    if not isinstance(payload, dict):
        raise EnvelopeError("the envelope does not hold a JSON object")
    return Opened(str(header.get("ns")), str(header.get("id")), seq, header["publisher"],
                  [r["kid"] for r in header["recipients"]], payload)
