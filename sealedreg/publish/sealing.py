"""A private repository in the tree: its contents, sealed to its recipients
(docs/format.md §8). The envelope format is `sealedreg.crypto.envelope`; this
module decides what goes in it and what its name binds it to.

The payload:

    {"v": 1, "repo": "example.com/secret-app",
     "tags": {"1.0": "sha256:…"},
     "manifests": {"sha256:…": {"mediaType": "…", "data": "<b64 exact manifest bytes>"}},
     "layers": {"sha256:…": {"cid": "b…", "size": N, "domain": "org|global", "key": "<b64 K>"}}}

Recipients get layer keys, never a domain secret.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from sealedreg.crypto.envelope import EnvelopeError, EnvelopeMismatch, Opened, open_envelope, seal
from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.layout import envelope_id

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


def seal_repository(contents: PrivateRepository, *, namespace: str, seq: int, publisher: OrgKeys,
                    recipients: list[PublicKey]) -> bytes:
    """The envelope of a private repository, named for it and signed by `publisher`."""
    return seal(contents.payload(), namespace=namespace, envelope_id=envelope_id(namespace, contents.repo),
                seq=seq, publisher=publisher, recipients=recipients)


def open_repository(raw: bytes, *, namespace: str, repo: str, publisher: VerifyKey, recipient: OrgKeys,
                    min_seq: int = 0) -> Opened:
    """Verify and open the envelope of `repo`. Its header's name and its
    payload must both be `repo`'s, so a publisher's genuine envelope for
    another repository cannot be served in this one's place."""
    try:
        opened = open_envelope(raw, publisher=publisher, recipient=recipient, namespace=namespace,
                               envelope_id=envelope_id(namespace, repo), min_seq=min_seq)
    except EnvelopeMismatch:
        raise EnvelopeError(f"this envelope is not the one for {repo}") from None
    if opened.payload.get("repo") != repo:
        raise EnvelopeError(f"this envelope is not the one for {repo}")
    return opened
