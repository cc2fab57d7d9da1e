"""`/sealedreg.json`, the namespace descriptor (docs/format.md §6, §8).

Without org keys: `{"content","expires","ns","seq","v":2}`. With them it
names the keys and is signed: `{"content","expires","ns","pub":{"box","sig"},
"seq","sig","v":2}`, `sig` being Ed25519 over the canonical JSON of all the
other fields (`sealedreg.crypto.signed`). `content` maps each other
top-level name of the tree to its CID: the signature covers the whole tree
(the reader checks the root's links against it), not just this file.
`expires` (Unix seconds) bounds how long a validly signed tree can be
replayed: a reader that has never seen the namespace before would otherwise
accept any old tree.

After `keygen --rotate` the descriptor also carries `prev: {"sig": old key}`
and `prev_sig`, the old key's signature over the same bytes as `sig`: a
reader that trusts the old key follows it to the new one (§8.6).

A reader trusts the signing key it got from DNS (or followed by a rotation
from one it trusted), never merely the one the descriptor names; refuses a
`seq` below one it has already seen; and — when it says what time it is —
refuses a descriptor without `expires` or past it. Version 1 descriptors
(trees with `sealedreg-seal/v1` envelopes) still verify.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime, timezone

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import KeyError_, OrgKeys, b64, parse_tagged
from sealedreg.crypto.signed import SignatureError, canonical, load_canonical, sign_document

VERSION = 2
VERSIONS = (1, 2)
MAX_SEQ = 2**53
"""A seq above it is refused: exact in every JSON reader, storable everywhere, and
unreachable by any publisher (one publish per microsecond for 285 years)."""

MAX_DESCRIPTOR = 64 << 10


class DescriptorError(SignatureError):
    """A descriptor that must not be trusted: unsigned by the expected key, for
    another namespace, malformed, or older than one already seen."""


@dataclass(frozen=True)
class Descriptor:
    """A verified descriptor: its fields, and the key that signed it."""

    fields: dict
    signer: str  # "ed25519:<b64>": the key this tree's envelopes are signed by
    rotated_from: str | None = None  # the trusted key it was followed from, when it was a rotation

    def __getitem__(self, name: str):
        return self.fields[name]

    def get(self, name: str, default=None):
        return self.fields.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    @property
    def version(self) -> int:
        return self.fields["v"]

    @property
    def seq(self) -> int:
        return self.fields["seq"]

    @property
    def box(self) -> str | None:
        """The publisher's box key the descriptor names (signed), if any."""
        pub = self.fields.get("pub")
        return pub.get("box") if isinstance(pub, dict) and isinstance(pub.get("box"), str) else None


def make_descriptor(namespace: str, seq: int, keys: OrgKeys | None = None, expires: int | None = None,
                    content: dict[str, str] | None = None) -> bytes:
    """The descriptor's exact bytes; signed when there are `keys`, and
    countersigned by `keys.previous` after a rotation."""
    fields: dict = {"v": VERSION, "ns": namespace, "seq": seq}
    if expires is not None:
        fields["expires"] = int(expires)
    if content is not None:
        fields["content"] = dict(content)
    if keys is None:
        return canonical(fields)
    fields["pub"] = {"sig": keys.public.sig_text, "box": keys.public.box_text}
    if keys.previous is None:
        return sign_document(fields, keys.sig)
    fields["prev"] = {"sig": keys.previous.public.sig_text}
    signed = canonical(fields)
    return canonical({**fields, "sig": b64(keys.sig.sign(signed).signature),
                      "prev_sig": b64(keys.previous.sig.sign(signed).signature)})


def _sig(doc: dict, name: str) -> bytes:
    text = doc.get(name)
    try:
        raw = base64.b64decode(text, validate=True) if isinstance(text, str) else b""
    except (ValueError, binascii.Error):
        raw = b""
    return raw


def _verifies(key: VerifyKey, message: bytes, sig: bytes) -> bool:
    if len(sig) != 64:
        return False
    try:
        key.verify(message, sig)
        return True
    except BadSignatureError:
        return False


def _key_text(key: VerifyKey) -> str:
    return "ed25519:" + b64(bytes(key))


def _named_key(doc: dict, field: str) -> str | None:
    value = doc.get(field)
    return value.get("sig") if isinstance(value, dict) and isinstance(value.get("sig"), str) else None


def verify_descriptor(raw: bytes, publisher: VerifyKey, min_seq: int = 0, namespace: str | None = None,
                      now: float | None = None) -> Descriptor:
    """The descriptor, if `publisher` signed it — or countersigned the rotation
    to the key that did — for `namespace` (when given) with a `seq` of at least
    `min_seq` and, when `now` is given, an `expires` after `now`;
    DescriptorError otherwise."""
    try:
        doc = load_canonical(raw, "sealedreg.json", MAX_DESCRIPTOR)
    except SignatureError as exc:
        raise DescriptorError(str(exc)) from None
    sig, prev_sig = _sig(doc, "sig"), _sig(doc, "prev_sig")
    doc.pop("sig", None)
    doc.pop("prev_sig", None)
    signed = canonical(doc)
    trusted = _key_text(publisher)
    new, old = _named_key(doc, "pub"), _named_key(doc, "prev")
    signer, rotated_from = trusted, None
    if old == trusted and new not in (None, trusted):
        # a rotation away from the key we trust: it must vouch for the new key, which must sign too
        try:
            new_key = VerifyKey(parse_tagged(new, "ed25519"))
        except (KeyError_, ValueError):
            raise DescriptorError("sealedreg.json names a malformed new key") from None
        if not (_verifies(publisher, signed, prev_sig) and _verifies(new_key, signed, sig)):
            raise DescriptorError("sealedreg.json is not signed by the expected publisher "
                                  "(a rotation both the old and the new key must sign)")
        signer, rotated_from = new, trusted
    elif not _verifies(publisher, signed, sig):
        raise DescriptorError("sealedreg.json is not signed by the expected publisher")
    if type(doc.get("v")) is not int or doc["v"] not in VERSIONS or not isinstance(doc.get("ns"), str):
        raise DescriptorError(f"sealedreg.json is not a version {VERSION} descriptor")
    if doc["v"] >= 2 and new != signer:
        raise DescriptorError("sealedreg.json names another key than the one that signed it")
    if namespace is not None and doc["ns"] != namespace:
        raise DescriptorError(f"sealedreg.json is for {doc['ns']!r}, not {namespace!r}")
    seq = doc.get("seq")
    if isinstance(seq, int) and not isinstance(seq, bool) and not 0 <= seq <= MAX_SEQ:
        raise DescriptorError(f"sealedreg.json seq {seq} is out of range")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < min_seq:
        raise DescriptorError(f"sealedreg.json seq {seq!r} is older than {min_seq}, already seen")
    content = doc.get("content")
    if content is not None and not (isinstance(content, dict)
                                    and all(isinstance(k, str) and isinstance(v, str) for k, v in content.items())):
        raise DescriptorError("sealedreg.json content is not a map of names to CIDs")
    expires = doc.get("expires")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
        raise DescriptorError("sealedreg.json expires is not a time")
    if now is not None:
        if expires is None:
            raise DescriptorError("sealedreg.json has no expiry, so it could be an old tree replayed")
        if expires <= now:
            raise DescriptorError(f"sealedreg.json expired at {_utc(expires)}: the publisher has not "
                                  "republished, or an old tree is being replayed")
    return Descriptor(doc, signer, rotated_from)


def _utc(seconds: int) -> str:
    try:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):  # a signed but absurd time: no calendar date to print
        return f"{seconds} (Unix time)"
