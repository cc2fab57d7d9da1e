"""Naming the other party of a sealed envelope: a recipient to seal to, or a
publisher to verify against. Either is given as key text (`x25519:<b64>` /
`ed25519:<b64>`), a `.pub` file, or a domain whose keys are in DNS.

Resolving input is not cryptography: it lives here, beside publishing, and
hands `sealedreg.crypto` plain keys.
"""

from __future__ import annotations

from pathlib import Path

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import KeyError_, PublicKeys, kid, parse_tagged
from sealedreg.publish.dns import DnsError, org_keys
from sealedreg.publish.keyfiles import load_public


def _is_file(text: str) -> bool:
    return text.endswith(".pub") or "/" in text


def _from_dns(text: str, role: str, nameserver: str | None) -> PublicKeys:
    try:
        return org_keys(text, nameserver)
    except DnsError as exc:
        raise KeyError_(f"{role} {text!r}: {exc}") from None


def recipient(text: str, nameserver: str | None = None) -> tuple[str, PublicKey]:
    """(label, box key) of a recipient given as `x25519:` text, a .pub file or a domain."""
    if text.startswith("x25519:"):
        key = PublicKey(parse_tagged(text, "x25519"))
        return f"kid:{kid(bytes(key))}", key
    pub = load_public(Path(text)) if _is_file(text) else _from_dns(text, "recipient", nameserver)
    return pub.name, pub.box


def publisher(text: str, nameserver: str | None = None) -> VerifyKey:
    """The signing key of a publisher given as `ed25519:` text, a .pub file or a domain."""
    if text.startswith("ed25519:"):
        return VerifyKey(parse_tagged(text, "ed25519"))
    if _is_file(text):
        return load_public(Path(text)).sig
    return _from_dns(text, "publisher", nameserver).sig
