"""`/sealedreg.json`, the namespace descriptor (docs/format.md §6, §8).

Without org keys: `{"content","expires","ns","seq","v":1}`. With them it
names the keys and is signed: `{"content","expires","ns","pub":{"box","sig"},
"seq","sig","v":1}`, `sig` being Ed25519 over the canonical JSON of all the
other fields (`sealedreg.crypto.signed`). `content` maps each other
top-level name of the tree to its CID: the signature covers the whole tree
(the reader checks the root's links against it), not just this file. `expires` (Unix seconds) bounds how long a
validly signed tree can be replayed: a reader that has never seen the
namespace before would otherwise accept any old tree. A reader trusts the
signing key it got from DNS, never the one the descriptor names, refuses a
`seq` below one it has already seen, and — when it says what time it is —
refuses a descriptor without `expires` or past it.
"""

from __future__ import annotations

from datetime import datetime, timezone

from nacl.signing import VerifyKey

from sealedreg.crypto.keys import OrgKeys
from sealedreg.crypto.signed import SignatureError, canonical, sign_document, verify_document

VERSION = 1
MAX_SEQ = 2**53
"""A seq above it is refused: exact in every JSON reader, storable everywhere, and
unreachable by any publisher (one publish per microsecond for 285 years)."""


class DescriptorError(SignatureError):
    """A descriptor that must not be trusted: unsigned by the expected key, for
    another namespace, malformed, or older than one already seen."""


def make_descriptor(namespace: str, seq: int, keys: OrgKeys | None = None, expires: int | None = None,
                    content: dict[str, str] | None = None) -> bytes:
    fields: dict = {"v": VERSION, "ns": namespace, "seq": seq}
    if expires is not None:
        fields["expires"] = int(expires)
    if content is not None:
        fields["content"] = dict(content)
    if keys is None:
        return canonical(fields)
    fields["pub"] = {"sig": keys.public.sig_text, "box": keys.public.box_text}
    return sign_document(fields, keys.sig)


def verify_descriptor(raw: bytes, publisher: VerifyKey, min_seq: int = 0, namespace: str | None = None,
                      now: float | None = None) -> dict:
    """The descriptor's fields, if `publisher` signed it for `namespace` (when
    given) with a `seq` of at least `min_seq` and, when `now` is given, an
    `expires` after `now`; DescriptorError otherwise."""
    try:
        doc = verify_document(raw, publisher, "sealedreg.json")
    except SignatureError as exc:
        raise DescriptorError(str(exc)) from None
    if doc.get("v") != VERSION or not isinstance(doc.get("ns"), str):
        raise DescriptorError(f"sealedreg.json is not a version {VERSION} descriptor")
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
    return doc


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
