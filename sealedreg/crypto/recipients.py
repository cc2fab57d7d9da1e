"""Naming a recipient: `x25519:<b64>`, a `.pub` file, or a domain (its keys in DNS)."""

from __future__ import annotations

from pathlib import Path

from nacl.public import PublicKey

from sealedreg.crypto.keys import KeyError_, PublicKeys, kid, load_public, parse_tagged


def resolve(text: str, nameserver: str | None = None) -> tuple[str, PublicKey]:
    """(label, box key) of a recipient given as key text, .pub file or domain."""
    if text.startswith("x25519:"):
        key = PublicKey(parse_tagged(text, "x25519"))
        return f"kid:{kid(bytes(key))}", key
    if text.endswith(".pub") or "/" in text:
        pub: PublicKeys = load_public(Path(text))
        return pub.name, pub.box
    from sealedreg.publish.dns import DnsError, org_keys

    try:
        return text, org_keys(text, nameserver).box
    except DnsError as exc:
        raise KeyError_(f"recipient {text!r}: {exc}") from None
