"""Organisation keys: an Ed25519 signing key and an X25519 box key.

Files (DESIGN §4):

    <name>.key   {"v":"sealedreg-key/v1","name":…,"sig":"ed25519:<b64 seed>","box":"x25519:<b64 secret>"}   mode 0600
    <name>.pub   {"v":"sealedreg-pub/v1","name":…,"sig":"ed25519:<b64>","box":"x25519:<b64>"}

The public halves are also what an organisation publishes in DNS, as the
TXT record `v=sealedreg1; sig=ed25519:<b64>; box=x25519:<b64>` at
`_sealedreg.<domain>`. A box key's id (`kid`) is the first 8 bytes of its
SHA-256, in hex: it names a recipient without naming the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

from sealedreg.crypto.protected_files import check_private
from sealedreg.fileio import write_atomic

KEY_VERSION = "sealedreg-key/v1"
PUB_VERSION = "sealedreg-pub/v1"
TXT_VERSION = "sealedreg1"


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

    def txt_record(self) -> str:
        return f"v={TXT_VERSION}; sig={self.sig_text}; box={self.box_text}"

    def to_json(self) -> bytes:
        return json.dumps({"v": PUB_VERSION, "name": self.name, "sig": self.sig_text,
                           "box": self.box_text}, indent=2).encode() + b"\n"


@dataclass(frozen=True)
class OrgKeys:
    name: str
    sig: SigningKey
    box: PrivateKey

    @classmethod
    def generate(cls, name: str) -> "OrgKeys":
        return cls(name, SigningKey.generate(), PrivateKey.generate())

    @property
    def public(self) -> PublicKeys:
        return PublicKeys(self.name, self.sig.verify_key, self.box.public_key)

    def __repr__(self) -> str:  # never print a private key
        return f"OrgKeys({self.name!r}, kid={self.public.kid})"

    def to_json(self) -> bytes:
        return json.dumps({"v": KEY_VERSION, "name": self.name, "sig": "ed25519:" + b64(bytes(self.sig)),
                           "box": "x25519:" + b64(bytes(self.box))}, indent=2).encode() + b"\n"


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def write_keys(keys: OrgKeys, directory: Path, force: bool = False) -> tuple[Path, Path]:
    """Write `<name>.key` (0600, never overwritten unless `force`) and `<name>.pub`."""
    if not _NAME.match(keys.name):
        raise KeyError_(f"{keys.name!r} is not a usable key name")
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = directory / f"{keys.name}.key", directory / f"{keys.name}.pub"
    if not force and (private.exists() or public.exists()):
        raise KeyError_(f"{private} already exists; use --force to replace it")
    write_atomic(private, keys.to_json(), directory)  # mkstemp: a new file, 0600, never a link
    write_atomic(public, keys.public.to_json(), directory)
    os.chmod(public, 0o644)
    return private, public


def load_keys(path: Path) -> OrgKeys:
    check_private(path, "key file")
    try:
        doc = json.loads(path.read_bytes())
    except ValueError:
        raise KeyError_(f"{path} is not a sealedreg key file") from None
    if not isinstance(doc, dict) or doc.get("v") != KEY_VERSION or not {"sig", "box"} <= set(doc):
        raise KeyError_(f"{path} is not a {KEY_VERSION} key file")
    return OrgKeys(str(doc.get("name", path.stem)), SigningKey(parse_tagged(str(doc["sig"]), "ed25519")),
                   PrivateKey(parse_tagged(str(doc["box"]), "x25519")))


def load_public(path: Path) -> PublicKeys:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        raise KeyError_(f"{path} is not a readable sealedreg public key file") from None
    if not isinstance(doc, dict) or doc.get("v") != PUB_VERSION:
        raise KeyError_(f"{path} is not a {PUB_VERSION} file")
    return PublicKeys(str(doc.get("name", path.stem)), VerifyKey(parse_tagged(doc["sig"], "ed25519")),
                      PublicKey(parse_tagged(doc["box"], "x25519")))


def parse_txt(record: str) -> dict[str, str]:
    """The fields of a `_sealedreg` TXT record (`k=v; k=v`)."""
    fields = {}
    for part in record.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def public_from_txt(name: str, records: list[str]) -> PublicKeys:
    """The org's keys from its `_sealedreg.<domain>` TXT records."""
    for record in records:
        fields = parse_txt(record)
        if fields.get("v") == TXT_VERSION and "sig" in fields and "box" in fields:
            return PublicKeys(name, VerifyKey(parse_tagged(fields["sig"], "ed25519")),
                              PublicKey(parse_tagged(fields["box"], "x25519")))
    raise KeyError_(f"no v={TXT_VERSION} record with sig= and box= for {name}")
