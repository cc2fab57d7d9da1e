"""Signed JSON documents and the one canonical JSON encoding every signature
in sealedreg is made over (docs/format.md §8).

`canonical(x)` is JSON with sorted keys, no whitespace, UTF-8. A signed
document is `canonical(fields ∪ {"sig": b64(Ed25519(canonical(fields)))})`;
a reader (`load_canonical`, then the document's own checks: the descriptor
verifies one or two signatures, docs/format.md §8.6) refuses any other
encoding of it, so one document has exactly one byte form (and one CID).
"""

from __future__ import annotations

import base64
import binascii
import json

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

MAX_DOCUMENT = 1 << 20


class SignatureError(ValueError):
    """A document that is malformed, not canonical, or not signed by the expected key."""


def canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def load_canonical(raw: bytes, what: str, limit: int = MAX_DOCUMENT) -> dict:
    """A JSON object that must be in its canonical encoding (SignatureError if not)."""
    if len(raw) > limit:
        raise SignatureError(f"{what} is larger than {limit} bytes")
    try:
        doc = json.loads(raw, parse_constant=_not_json)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; RecursionError: nested too deeply
        raise SignatureError(f"{what} is not JSON") from None
    if not isinstance(doc, dict):
        raise SignatureError(f"{what} is not a JSON object")
    try:
        encoded = canonical(doc)
    except (UnicodeEncodeError, RecursionError):  # a lone surrogate (`"\ud800"`) has no UTF-8 form
        raise SignatureError(f"{what} is not in canonical JSON") from None
    if encoded != raw:
        raise SignatureError(f"{what} is not in canonical JSON")
    return doc


def _not_json(constant: str) -> float:
    """`NaN`, `Infinity` and `-Infinity`: Python reads and writes them, JSON has no such thing."""
    raise ValueError(f"{constant} is not JSON")


def sign_document(fields: dict, key: SigningKey) -> bytes:
    """`fields` plus a `sig` over their canonical form, canonically encoded."""
    if "sig" in fields:
        raise ValueError("a document to sign must not already carry `sig`")
    sig = key.sign(canonical(fields)).signature
    return canonical({**fields, "sig": base64.b64encode(sig).decode()})
