"""Organisation keys: an Ed25519 signing key and an X25519 box key, and their
encodings (docs/format.md §8). Pure: reading and writing key files is
`sealedreg.publish.keyfiles`, the DNS record `sealedreg.publish.records`.

    <name>.key   {"v":"sealedreg-key/v1","name":…,"sig":"ed25519:<b64 seed>","box":"x25519:<b64 secret>",
                  "prev":{"sig":…,"box":…}}              (`prev`: only after `keygen --rotate`)
    <name>.pub   {"v":"sealedreg-pub/v1","name":…,"sig":"ed25519:<b64>","box":"x25519:<b64>"}

After a rotation the key file keeps the previous keys: the old signing key
countersigns the descriptor so pullers can follow the rotation, and the old
box key still opens what others sealed to it before they re-granted.

A box key's id (`kid`) is the first 8 bytes of its SHA-256, in hex: the
registry's own name for a recipient in its grants. It never appears in a
published tree (v2).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

KEY_VERSION = "sealedreg-key/v1"
PUB_VERSION = "sealedreg-pub/v1"


class KeyError_(ValueError):
    """A key or key file that cannot be used; the message says why (never the key)."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str, size: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raise KeyError_(f"{what} is not base64") from None
    if len(raw) != size:
        raise KeyError_(f"{what} must be {size} bytes")
    return raw


def parse_tagged(text: str, tag: str, size: int = 32) -> bytes:
    """`ed25519:<b64>` / `x25519:<b64>` → the raw key."""
    prefix = f"{tag}:"
    if not text.startswith(prefix):
        raise KeyError_(f"expected {prefix}<base64>, got {text[:24]!r}")
    return unb64(text[len(prefix):], size, f"{tag} key")


def kid(box_public: bytes) -> str:
    return hashlib.sha256(box_public).digest()[:8].hex()


@dataclass(frozen=True)
class PublicKeys:
    name: str
    sig: VerifyKey
    box: PublicKey

    @property
    def sig_text(self) -> str:
        return "ed25519:" + b64(bytes(self.sig))

    @property
    def box_text(self) -> str:
        return "x25519:" + b64(bytes(self.box))

    @property
    def kid(self) -> str:
        return kid(bytes(self.box))

    def to_json(self) -> bytes:
        return json.dumps({"v": PUB_VERSION, "name": self.name, "sig": self.sig_text,
                           "box": self.box_text}, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class OrgKeys:
    name: str
    sig: SigningKey
    box: PrivateKey
    previous: "OrgKeys | None" = None  # the keys before the last rotation

    @classmethod
    def generate(cls, name: str) -> "OrgKeys":
        return cls(name, SigningKey.generate(), PrivateKey.generate())

    def rotated(self) -> "OrgKeys":
        """New keys for the same organisation, remembering these (one rotation back)."""
        return OrgKeys(self.name, SigningKey.generate(), PrivateKey.generate(),
                       OrgKeys(self.name, self.sig, self.box))

    def box_keys(self) -> list[PrivateKey]:
        """Every box key that may open what was sealed to this organisation: the
        current one, then the one before the last rotation."""
        return [self.box] + ([self.previous.box] if self.previous is not None else [])

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(self.name, self.sig.verify_key, self.box.public_key)

    def __repr__(self) -> str:  # never print a private key
        return f"OrgKeys({self.name!r}, kid={self.public.kid})"

    def _secret_fields(self) -> dict:
        return {"sig": "ed25519:" + b64(bytes(self.sig)), "box": "x25519:" + b64(bytes(self.box))}

    def to_json(self) -> bytes:
        doc = {"v": KEY_VERSION, "name": self.name, **self._secret_fields()}
        if self.previous is not None:
            doc["prev"] = self.previous._secret_fields()
        return json.dumps(doc, indent=2).encode() + b"\n"


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_key_name(name: str) -> str:
    """A key's name becomes a file name: letters, digits, `.`, `_`, `-`; no path."""
    if not _NAME.fullmatch(name):
        raise KeyError_(f"{name!r} is not a usable key name")
    return name


def _document(raw: bytes, version: str, source: str, what: str) -> dict:
    try:
        doc = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        raise KeyError_(f"{source} is not a sealedreg {what}") from None
    if not isinstance(doc, dict) or doc.get("v") != version or not {"sig", "box"} <= set(doc):
        raise KeyError_(f"{source} is not a {version} {what}")
    return doc


def parse_keys(raw: bytes, source: str, default_name: str) -> OrgKeys:
    """An `<name>.key` document; KeyError_ naming `source` if it is not one."""
    doc = _document(raw, KEY_VERSION, source, "key file")
    name = str(doc.get("name", default_name))
    previous = None
    if "prev" in doc:
        prev = doc["prev"]
        if not isinstance(prev, dict) or not {"sig", "box"} <= set(prev):
            raise KeyError_(f"{source}: `prev` is not a pair of keys")
        previous = OrgKeys(name, SigningKey(parse_tagged(str(prev["sig"]), "ed25519")),
                           PrivateKey(parse_tagged(str(prev["box"]), "x25519")))
    return OrgKeys(name, SigningKey(parse_tagged(str(doc["sig"]), "ed25519")),
                   PrivateKey(parse_tagged(str(doc["box"]), "x25519")), previous)


def parse_public(raw: bytes, source: str, default_name: str) -> PublicKeys:
    """An `<name>.pub` document; KeyError_ naming `source` if it is not one."""
    doc = _document(raw, PUB_VERSION, source, "public key file")
    return PublicKeys(str(doc.get("name", default_name)), VerifyKey(parse_tagged(str(doc["sig"]), "ed25519")),
                      PublicKey(parse_tagged(str(doc["box"]), "x25519")))
