"""`sealedreg-seal/v2`: a JSON document sealed to recipients it does not name,
and signed by its publisher (docs/format.md §8). What goes in it is the
namespace tree's business (`sealedreg.publish.sealing`); how a recipient
finds its envelope, and its stanza in it, is its index
(`sealedreg.crypto.recipient_index`).

    DEK     = 32 random bytes
    stanza  = crypto_box_seal(recipient box pk, DEK)           (80 bytes, names nobody)
    stanzas = the recipients' stanzas plus fillers (crypto_box_seal of random bytes to a
              throwaway key: the same length and look), shuffled, as many as the count bucket
    header  = {"v":"sealedreg-seal/v2","ns":…,"seq":N,"publisher":"ed25519:<b64>","stanzas":[b64,…]}
    body    = XChaCha20-Poly1305(DEK, nonce (24 random bytes), pad(canonical(payload)), AAD = canonical(header))
    sig     = Ed25519(publisher, canonical(header) ‖ nonce ‖ body)
    file    = canonical({"header": header, "nonce": b64, "body": b64, "sig": b64})

Opening checks the signature against the publisher key the caller trusts
*before* anything is decrypted, refuses a `seq` lower than the caller has
seen, then opens the stanza the caller's index points at — or, without an
index, tries each stanza (at most MAX_STANZAS).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import BadSignatureError, CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import OrgKeys, b64, parse_tagged
from sealedreg.crypto.padding import MIN_BODY, MIN_COUNT, PaddingError, bucket, pad, unpad
from sealedreg.crypto.signed import SignatureError, canonical, load_canonical

VERSION = "sealedreg-seal/v2"
MAX_ENVELOPE = 24 << 20
"""The largest envelope file read: the largest padded body, base64, plus the header."""

MAX_STANZAS = 1024
"""The most stanzas an envelope may carry: bounds a trial decryption."""

STANZA = 80
"""crypto_box_seal of a 32-byte DEK: ephemeral pk (32) ‖ box (32 + 16)."""


class EnvelopeError(ValueError):
    """An envelope that must not be trusted or cannot be opened by this key."""


class NotRecipient(EnvelopeError):
    """A genuine envelope that the key tried cannot open."""


class EnvelopeMismatch(EnvelopeError):
    """A genuine envelope, but not the one asked for (another namespace or repository)."""


@dataclass(frozen=True)
class Opened:
    namespace: str
    seq: int
    publisher: str
    stanzas: int  # how many stanzas (v2, padded) or recipients (v1) it carries
    payload: dict
    version: str = VERSION


@dataclass(frozen=True)
class Sealed:
    """An envelope, and where each recipient's stanza is (in the order given)."""

    raw: bytes
    positions: tuple[int, ...]


def _filler() -> bytes:
    """A stanza nobody can open that looks like one that somebody can: the
    same construction to a throwaway key (a random 80-byte string would not
    do: a real stanza starts with an X25519 point, whose top bit is clear)."""
    return SealedBox(PrivateKey.generate().public_key).encrypt(os.urandom(32))


def seal(payload: dict, *, namespace: str, seq: int, publisher: OrgKeys, recipients: list[PublicKey]) -> Sealed:
    """Seal `payload` (JSON) to `recipients` (the publisher should be one of them
    to read its own envelope back) and sign it."""
    unique = list(dict.fromkeys(bytes(pk) for pk in recipients))
    if not unique:
        raise EnvelopeError("an envelope needs at least one recipient")
    count = bucket(len(unique), MIN_COUNT)
    if count > MAX_STANZAS:
        raise EnvelopeError(f"an envelope is sealed to at most {MAX_STANZAS} recipients")
    dek = os.urandom(32)
    stanzas = [SealedBox(PublicKey(pk)).encrypt(dek) for pk in unique]
    stanzas += [_filler() for _ in range(count - len(stanzas))]
    order = list(range(count))
    secrets.SystemRandom().shuffle(order)  # order[i]: where stanza i goes
    placed = [b""] * count
    for i, at in enumerate(order):
        placed[at] = stanzas[i]
    where = {pk: order[i] for i, pk in enumerate(unique)}
    header = {"v": VERSION, "ns": namespace, "seq": seq,
              "publisher": "ed25519:" + b64(bytes(publisher.sig.verify_key)),
              "stanzas": [b64(s) for s in placed]}
    nonce = os.urandom(24)
    aad = canonical(header)
    try:
        body = crypto_aead_xchacha20poly1305_ietf_encrypt(pad(canonical(payload), MIN_BODY), aad, nonce, dek)
    except PaddingError as exc:
        raise EnvelopeError(str(exc)) from None
    sig = publisher.sig.sign(aad + nonce + body).signature
    raw = canonical({"header": header, "nonce": b64(nonce), "body": b64(body), "sig": b64(sig)})
    return Sealed(raw, tuple(where[bytes(pk)] for pk in recipients))


# -- shared with the v1 reader -------------------------------------------------
def parse_file(raw: bytes, version: str) -> tuple[dict, bytes, bytes, bytes]:
    """(header, nonce, body, sig) of an envelope file of `version`, unverified."""
    try:
        doc = load_canonical(raw, "envelope", MAX_ENVELOPE)
    except SignatureError as exc:
        raise EnvelopeError(str(exc)) from None
    try:
        header, nonce, body, sig = doc["header"], doc["nonce"], doc["body"], doc["sig"]
        nonce, body, sig = (base64.b64decode(x, validate=True) for x in (nonce, body, sig))
    except (ValueError, KeyError, TypeError):
        raise EnvelopeError("not a sealed envelope") from None
    if not isinstance(header, dict) or header.get("v") != version:
        raise EnvelopeError(f"not a {version} envelope")
    if len(nonce) != 24 or len(sig) != 64:
        raise EnvelopeError("malformed nonce or signature")
    return header, nonce, body, sig


def envelope_version(raw: bytes) -> str | None:
    """The `v` an envelope's header claims (unverified: only to pick a reader)."""
    try:
        header = json.loads(raw).get("header")
        return header.get("v") if isinstance(header, dict) else None
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None


def verify_publisher(parsed: tuple[dict, bytes, bytes, bytes], publisher: VerifyKey) -> tuple[dict, bytes, bytes]:
    """The header must name `publisher` and its signature verify, before anything is decrypted."""
    header, nonce, body, sig = parsed
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


def check_seq(header: dict, min_seq: int) -> int:
    seq = header.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise EnvelopeError("malformed sequence number")
    if seq < min_seq:
        raise EnvelopeError(f"sequence {seq} is older than {min_seq}, already seen: refusing a rollback")
    return seq


# -- opening -------------------------------------------------------------------
def verify(raw: bytes, publisher: VerifyKey) -> dict:
    """Check the signature against the trusted publisher key; return the header."""
    return verify_publisher(parse_file(raw, VERSION), publisher)[0]


def _stanzas(header: dict) -> list[bytes]:
    stanzas = header.get("stanzas")
    if not isinstance(stanzas, list) or not stanzas or len(stanzas) > MAX_STANZAS:
        raise EnvelopeError("malformed recipient stanzas")
    try:
        out = [base64.b64decode(s, validate=True) for s in stanzas]
    except (ValueError, TypeError):
        raise EnvelopeError("malformed recipient stanzas") from None
    if any(len(s) != STANZA for s in out):
        raise EnvelopeError("malformed recipient stanzas")
    return out


def open_envelope(raw: bytes, *, publisher: VerifyKey, recipient: PrivateKey, namespace: str, min_seq: int = 0,
                  stanza: int | None = None) -> Opened:
    """Verify, then decrypt with `recipient` (a box key).

    The envelope must be for `namespace`, with a `seq` of at least `min_seq`
    (the highest already seen: anything lower is a replay). `stanza` is the
    position the recipient's index gives; without one, every stanza is tried."""
    header, nonce, body = verify_publisher(parse_file(raw, VERSION), publisher)
    if header.get("ns") != namespace:
        raise EnvelopeMismatch(f"this envelope is not for {namespace}")
    seq = check_seq(header, min_seq)
    stanzas = _stanzas(header)
    box = SealedBox(recipient)
    tried = [stanzas[stanza]] if stanza is not None and 0 <= stanza < len(stanzas) else stanzas
    dek = None
    for candidate in tried:
        try:
            dek = box.decrypt(candidate)
            break
        except CryptoError:
            continue
    if dek is None:
        raise NotRecipient("not a recipient of this envelope" if stanza is None
                           else "not a recipient of this envelope (at the stanza its index names)")
    try:
        padded = crypto_aead_xchacha20poly1305_ietf_decrypt(body, canonical(header), nonce, dek)
    except CryptoError:
        raise EnvelopeError("cannot open: wrong key or tampered contents") from None
    try:
        payload = json.loads(unpad(padded, MIN_BODY))
    except PaddingError as exc:
        raise EnvelopeError(f"the envelope's body is malformed: {exc}") from None
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise EnvelopeError("the envelope does not hold JSON") from None
    if not isinstance(payload, dict):
        raise EnvelopeError("the envelope does not hold a JSON object")
    return Opened(namespace, seq, header["publisher"], len(stanzas), payload)
