"""Repository names, tags and references: the spec's grammar, enforced once.

Names never become file paths (storage is content-addressed and indexed by
SQLite), but validating here means `../`, NUL bytes and absolute paths are
refused before anything else sees them.
"""

from __future__ import annotations

import re

from sealedreg.registry.digests import Digest, is_digest
from sealedreg.registry.errors import DigestInvalid, ManifestInvalid, ManifestUnknown, NameInvalid, Unsupported

NAME_MAX = 255
TAG_MAX = 128

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")


def validate_name(name: str) -> str:
    """Return `name` if it is a valid repository name, else raise NameInvalid."""
    if not name or len(name) > NAME_MAX or not _NAME.fullmatch(name):
        raise NameInvalid(detail={"name": name[:NAME_MAX]})
    return name


RESERVED_COMPONENTS = ("tags", "manifests")
"""Names a repository path component below the namespace may not have: the
namespace tree keeps a repository's tags and manifests in directories of
these names (docs/format.md §6), so `ns/app/tags` would land inside
`ns/app`'s tags and make the tree unbuildable or ambiguous."""


def validate_pushable(name: str) -> str:
    """`validate_name`, plus what the namespace tree needs of a name pushed to."""
    validate_name(name)
    reserved = [part for part in name.split("/")[1:] if part in RESERVED_COMPONENTS]
    if reserved:
        raise NameInvalid(f"a repository path component may not be {reserved[0]!r} (it names a directory of "
                          "the published namespace tree)", detail={"name": name})
    return name


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG.fullmatch(tag))


def validate_tag(tag: str) -> str:
    if not is_valid_tag(tag):
        raise ManifestInvalid("invalid tag", detail={"tag": tag[:TAG_MAX]})
    return tag


def parse_reference(reference: str) -> str | Digest:
    """A manifest reference is a tag or a digest; return the tag or a Digest."""
    if is_digest(reference):
        return Digest.parse(reference)
    return validate_tag(reference)


def read_reference(reference: str) -> str | Digest:
    """`parse_reference` for a read: a reference that cannot name anything (a
    malformed tag or digest) is simply unknown, as the conformance suites expect."""
    try:
        return parse_reference(reference)
    except (ManifestInvalid, DigestInvalid, Unsupported):
        raise ManifestUnknown(detail={"reference": reference[:256]}) from None
