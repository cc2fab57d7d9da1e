"""The sealedreg-seal/v1 reader: trees published before v2 still open, and
the v1 vector's forgeries, tampers and rollbacks are still refused."""

import json
from pathlib import Path

import pytest
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from sealedreg.crypto import envelope, envelope_v1
from sealedreg.crypto.envelope import EnvelopeError, EnvelopeMismatch, NotRecipient
from sealedreg.crypto.keys import OrgKeys, parse_tagged
from sealedreg.publish.layout import v1_envelope_id

VECTORS = Path(__file__).parents[2] / "vectors"
V = json.loads((VECTORS / "seal-v1.json").read_text())
V2 = json.loads((VECTORS / "seal-v2.json").read_text())


def keys(doc) -> OrgKeys:
    return OrgKeys(doc["name"], SigningKey(parse_tagged(doc["sig"], "ed25519")),
                   PrivateKey(parse_tagged(doc["box"], "x25519")))


PUB, REC, STRANGER = keys(V["publisher_key"]), keys(V["recipient_key"]), keys(V["stranger_key"])
ROLES = {"recipient": REC, "stranger": STRANGER}
ENV = V["envelope"].encode()
REPO = V["payload"]["repo"]


def _open(raw: bytes, who: OrgKeys, repo: str = REPO, **kw):
    return envelope_v1.open_envelope(raw, publisher=PUB.sig.verify_key, recipient=who.box, namespace="example.com",
                                     envelope_id=v1_envelope_id("example.com", repo), **kw)


@pytest.mark.parametrize("who", [PUB, REC], ids=["publisher", "recipient"])
def test_vector_opens_for_every_recipient(who):
    opened = _open(ENV, who)
    assert opened.payload == V["payload"] and opened.seq == V["seq"] and opened.namespace == "example.com"
    assert opened.version == "sealedreg-seal/v1" and opened.stanzas == 2
    assert opened.publisher == PUB.public.sig_text


# The envelope alone cannot tell that a payload names another repository than
# the envelope's: that binding is the sealing layer's (tests/unit/publish/test_sealing.py).
ABOUT_THE_PAYLOAD = {"payload names another repository"}


@pytest.mark.parametrize("failure", [f for f in V["failures"] if f["name"] not in ABOUT_THE_PAYLOAD],
                         ids=[f["name"] for f in V["failures"] if f["name"] not in ABOUT_THE_PAYLOAD])
def test_failure_vectors_about_the_envelope(failure):
    """The reader's own words, except for another repository: at this layer
    that is an envelope with another id (the sealing layer says "not the one for")."""
    kind, error = EnvelopeError, failure["error"]
    if failure["repo"] != REPO:
        kind, error = EnvelopeMismatch, "this envelope is not example.com/"
    if failure["as"] == "stranger":
        kind = NotRecipient
    with pytest.raises(kind, match=error):
        _open(failure["envelope"].encode(), ROLES[failure["as"]], failure["repo"], min_seq=failure["min_seq"])


def test_a_payload_naming_another_repository_opens_here():
    """…so the sealing layer can see, and refuse, that the names differ."""
    failure = next(f for f in V["failures"] if f["name"] in ABOUT_THE_PAYLOAD)
    assert _open(failure["envelope"].encode(), REC, failure["repo"]).payload["repo"] != failure["repo"]


def test_another_namespace_is_a_mismatch():
    with pytest.raises(EnvelopeMismatch, match="this envelope is not other.org/"):
        envelope_v1.open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=REC.box, namespace="other.org",
                                  envelope_id=v1_envelope_id("example.com", REPO))


def test_the_rollback_boundary():
    _open(ENV, REC, min_seq=V["seq"])
    with pytest.raises(EnvelopeError, match="rollback"):
        _open(ENV, REC, min_seq=V["seq"] + 1)


def test_the_readers_do_not_take_each_others_envelopes():
    assert envelope.envelope_version(ENV) == "sealedreg-seal/v1"
    with pytest.raises(EnvelopeError, match="not a sealedreg-seal/v2"):
        envelope.open_envelope(ENV, publisher=PUB.sig.verify_key, recipient=REC.box, namespace="example.com")
    v2 = V2["envelope"]["envelope"].encode()
    with pytest.raises(EnvelopeError, match="not a sealedreg-seal/v1"):
        envelope_v1.open_envelope(v2, publisher=PUB.sig.verify_key, recipient=REC.box, namespace="example.com",
                                  envelope_id=V2["envelope"]["id"])
