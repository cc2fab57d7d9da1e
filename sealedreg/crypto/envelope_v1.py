"""Reading `sealedreg-seal/v1` envelopes (docs/format.md §8.7): trees published
before v2 still open. Nothing writes v1 any more; its leaks (an envelope name
anyone can compute from a guessed repository name, recipients named by a
hash of their public key) are why v2 exists.

    header = {"v":"sealedreg-seal/v1","ns":…,"id":…,"seq":N,"publisher":"ed25519:<b64>",
              "recipients":[{"kid":"<16 hex>","key":"<b64 SealedBox(box pk).encrypt(DEK)>"},…]}
    body   = XChaCha20-Poly1305(DEK, nonce, plaintext, AAD = canonical(header))
    sig    = Ed25519(publisher, canonical(header) ‖ nonce ‖ body)
    file   = {"header": header, "nonce": b64, "body": b64, "sig": b64}
"""

from __future__ import annotations

import base64
import json

from nacl.bindings import crypto_aead_xchacha20poly1305_ietf_decrypt
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, SealedBox
from nacl.signing import VerifyKey

from sealedreg.crypto.envelope import (EnvelopeError, EnvelopeMismatch, NotRecipient, Opened, check_seq,
                                       parse_file, verify_publisher)
from sealedreg.crypto.keys import kid
from sealedreg.crypto.signed import canonical

VERSION = "sealedreg-seal/v1"


def open_envelope(raw: bytes, *, publisher: VerifyKey, recipient: PrivateKey, namespace: str, envelope_id: str,
                  min_seq: int = 0) -> Opened:
    """Verify, then decrypt with `recipient` (a box key). The header must name
    `envelope_id` in `namespace`, and `seq` must be at least `min_seq`."""
    header, nonce, body = verify_publisher(parse_file(raw, VERSION), publisher)
    if header.get("ns") != namespace or header.get("id") != envelope_id:
        raise EnvelopeMismatch(f"this envelope is not {namespace}/{envelope_id}")
    seq = check_seq(header, min_seq)
    mine = kid(bytes(recipient.public_key))
    recipients = header.get("recipients")
    if not isinstance(recipients, list):
        raise EnvelopeError("malformed recipients")
    stanzas = [r for r in recipients if isinstance(r, dict) and r.get("kid") == mine]
    if not stanzas:
        raise NotRecipient("not a recipient of this envelope")
    try:
        dek = SealedBox(recipient).decrypt(base64.b64decode(stanzas[0]["key"], validate=True))
        plaintext = crypto_aead_xchacha20poly1305_ietf_decrypt(body, canonical(header), nonce, dek)
        payload = json.loads(plaintext)
    except (CryptoError, ValueError, KeyError, TypeError, RecursionError):
        raise EnvelopeError("cannot open: wrong key or tampered contents") from None
    if not isinstance(payload, dict):
        raise EnvelopeError("the envelope does not hold a JSON object")
    return Opened(str(header["ns"]), seq, header["publisher"], len(recipients), payload, VERSION)
