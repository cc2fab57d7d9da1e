"""Private repositories in the tree (docs/format.md §8): their contents, sealed
to their recipients, and each recipient's index of what it may open. The
envelope format is `sealedreg.crypto.envelope`, the index
`sealedreg.crypto.recipient_index`; this module decides what goes in them,
what they are named, and how a recipient finds its repository.

The payload:

    {"v": 1, "repo": "example.com/secret-app",
     "tags": {"1.0": "sha256:…"},
     "manifests": {"sha256:…": {"mediaType": "…", "data": "<b64 exact manifest bytes>"}},
     "layers": {"sha256:…": {"cid": "b…", "size": N, "domain": "org|global", "key": "<b64 K>"}}}

Recipients get layer keys, never a domain secret. The payload names its
repository: a reader checks that name, so a genuine envelope for another
repository cannot be passed off as this one.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Awaitable, Callable

from nacl.public import PrivateKey, PublicKey
from nacl.signing import VerifyKey

from sealedreg.crypto import envelope_v1, pairwise
from sealedreg.crypto.envelope import (EnvelopeError, EnvelopeMismatch, NotRecipient, Opened, envelope_version,
                                       open_envelope, seal)
from sealedreg.crypto.padding import MIN_COUNT, bucket
from sealedreg.crypto.recipient_index import IndexEntry, IndexError_, filler, open_index, seal_index
from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish import layout

PAYLOAD_VERSION = 1


@dataclass(frozen=True)
class SealedLayer:
    """What a recipient needs to fetch and decrypt one blob."""

    cid: str
    size: int
    domain: str  # "org" or "global"
    key: bytes = field(repr=False)


@dataclass(frozen=True)
class PrivateRepository:
    """A private repository's state, as its envelope carries it."""

    repo: str
    tags: dict[str, str]
    manifests: dict[str, tuple[str, bytes]]  # digest -> (media type, exact bytes)
    layers: dict[str, SealedLayer]

    def payload(self) -> dict:
        return {"v": PAYLOAD_VERSION, "repo": self.repo, "tags": dict(self.tags),
                "manifests": {d: {"mediaType": t, "data": base64.b64encode(b).decode()}
                              for d, (t, b) in self.manifests.items()},
                "layers": {d: {"cid": layer.cid, "size": layer.size, "domain": layer.domain,
                               "key": base64.b64encode(layer.key).decode()} for d, layer in self.layers.items()}}

    @classmethod
    def from_payload(cls, doc: dict) -> "PrivateRepository":
        """EnvelopeError for a payload that is not this version's shape."""
        try:
            if doc["v"] != PAYLOAD_VERSION:
                raise ValueError
            tags = {str(t): str(d) for t, d in doc["tags"].items()}
            manifests = {str(d): (str(m["mediaType"]), base64.b64decode(m["data"], validate=True))
                         for d, m in doc["manifests"].items()}
            layers = {str(d): SealedLayer(str(x["cid"]), int(x["size"]), str(x["domain"]),
                                          base64.b64decode(x["key"], validate=True))
                      for d, x in doc["layers"].items()}
            return cls(str(doc["repo"]), tags, manifests, layers)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
            raise EnvelopeError("the envelope's payload is malformed") from None


@dataclass(frozen=True)
class SealedRepository:
    """A private repository and whom besides its organisation it is sealed to."""

    contents: PrivateRepository
    grantees: tuple[PublicKey, ...] = ()


# -- writing -----------------------------------------------------------------
def seal_private(repos: list[SealedRepository], *, namespace: str, seq: int, publisher: OrgKeys) -> dict[str, bytes]:
    """Every file the tree needs for its private repositories (path → bytes):
    one envelope per repository, under a random name, sealed to the
    organisation and its grantees; one index per recipient, under a name only
    that recipient and the publisher can compute; and filler indexes up to
    the count bucket."""
    files: dict[str, bytes] = {}
    entries: dict[bytes, list[IndexEntry]] = {}
    for sealed in repos:
        recipients = list(dict.fromkeys([bytes(publisher.box.public_key), *(bytes(k) for k in sealed.grantees)]))
        envelope = seal(sealed.contents.payload(), namespace=namespace, seq=seq, publisher=publisher,
                        recipients=[PublicKey(k) for k in recipients])
        name = layout.new_envelope_id()
        files[layout.envelope_path(name)] = envelope.raw
        for key, position in zip(recipients, envelope.positions):
            entries.setdefault(key, []).append(IndexEntry(sealed.contents.repo, name, position))
    sizes = []
    for key, listed in entries.items():
        pair = pairwise.as_publisher(publisher.box, PublicKey(key), namespace)
        raw = seal_index(listed, pair=pair, namespace=namespace, seq=seq)
        files[layout.index_path(pair.index_name(seq))] = raw
        sizes.append(len(raw))
    for _ in range(bucket(len(entries), MIN_COUNT) - len(entries) if entries else 0):
        files[layout.index_path(layout.new_envelope_id())] = filler(min(sizes))
    return files


# -- reading -----------------------------------------------------------------
FileReader = Callable[[str], Awaitable[bytes]]
"""Reads a tree file by path; LookupError when it is not there."""


def _open(raw: bytes, *, namespace: str, repo: str, publisher: VerifyKey, recipient: PrivateKey, min_seq: int,
          stanza: int | None, v1_id: str | None = None) -> Opened:
    try:
        if envelope_version(raw) == envelope_v1.VERSION:
            opened = envelope_v1.open_envelope(raw, publisher=publisher, recipient=recipient, namespace=namespace,
                                               envelope_id=v1_id or layout.v1_envelope_id(namespace, repo),
                                               min_seq=min_seq)
        else:
            opened = open_envelope(raw, publisher=publisher, recipient=recipient, namespace=namespace,
                                   min_seq=min_seq, stanza=stanza)
    except EnvelopeMismatch:
        raise EnvelopeMismatch(f"this envelope is not the one for {repo}") from None
    if opened.payload.get("repo") != repo:
        raise EnvelopeMismatch(f"this envelope is not the one for {repo}")
    return opened


def open_repository(raw: bytes, *, namespace: str, repo: str, publisher: VerifyKey, recipient: OrgKeys,
                    min_seq: int = 0) -> Opened:
    """Verify and open an envelope of `repo` (v2, or v1 from an older tree)
    with any of `recipient`'s box keys, trying every stanza. Its payload must
    name `repo`, so a publisher's genuine envelope for another repository
    cannot be served in this one's place."""
    refused = NotRecipient("not a recipient of this envelope")
    for box in recipient.box_keys():
        try:
            return _open(raw, namespace=namespace, repo=repo, publisher=publisher, recipient=box, min_seq=min_seq,
                         stanza=None)
        except EnvelopeMismatch as exc:
            raise EnvelopeError(str(exc)) from None
        except NotRecipient as exc:
            refused = exc
    raise refused


async def recipient_index(read: FileReader, *, namespace: str, seq: int, publisher_box: PublicKey,
                          recipient: OrgKeys) -> list[tuple[PrivateKey, IndexEntry]]:
    """What `recipient` may open in the v2 tree of `seq`: its index under each
    of its box keys (current, then pre-rotation). One read per key."""
    found: list[tuple[PrivateKey, IndexEntry]] = []
    for box in recipient.box_keys():
        try:
            pair = pairwise.as_recipient(box, publisher_box, namespace)
        except pairwise.PairError:
            continue
        try:
            raw = await read(layout.index_path(pair.index_name(seq)))
        except LookupError:
            continue
        try:
            found += [(box, entry) for entry in open_index(raw, pair=pair, namespace=namespace, seq=seq)]
        except IndexError_:
            continue  # a filler or a stranger's at our name: nothing for us
    return found


async def find_private(read: FileReader, *, namespace: str, repo: str, version: int, seq: int,
                       publisher: VerifyKey, publisher_box: PublicKey | None,
                       recipients: list[OrgKeys]) -> Opened | None:
    """Open private repository `repo` of a tree whose descriptor verified
    (`version`, `seq`, publisher keys from it) with the first of `recipients`
    that may; None when none may (or the tree has no such repository).

    v2: each recipient's index names the envelope and the stanza; v1: the
    envelope's name is computed from the repository name. Envelopes older
    than the tree (`seq`) are refused: every publish re-seals all of them."""
    for recipient in recipients:
        if version >= 2:
            if publisher_box is None:
                raise EnvelopeError("the descriptor names no box key: no index can be found")
            entries = [(box, e) for box, e in await recipient_index(read, namespace=namespace, seq=seq,
                                                                        publisher_box=publisher_box,
                                                                        recipient=recipient) if e.repo == repo]
            for box, entry in entries:
                try:
                    raw = await read(layout.envelope_path(entry.envelope))
                except LookupError:
                    continue
                return _open(raw, namespace=namespace, repo=repo, publisher=publisher, recipient=box, min_seq=seq,
                             stanza=entry.stanza)
            continue
        v1_id = layout.v1_envelope_id(namespace, repo)
        try:
            raw = await read(layout.envelope_path(v1_id))
        except LookupError:
            return None
        for box in recipient.box_keys():
            try:
                return _open(raw, namespace=namespace, repo=repo, publisher=publisher, recipient=box, min_seq=seq,
                             stanza=None, v1_id=v1_id)
            except NotRecipient:
                continue
    return None
