"""A private repository's envelope: what is in it, and what it is bound to."""

import pytest

from sealedreg.crypto.envelope import EnvelopeError, seal
from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.layout import envelope_id
from sealedreg.publish.sealing import PrivateRepository, SealedLayer, open_repository, seal_repository

ORG, PARTNER, STRANGER = (OrgKeys.generate(n) for n in ("example.com", "partner.org", "stranger.net"))
REPO = PrivateRepository("example.com/secret", {"1.0": "sha256:" + "a" * 64},
                         {"sha256:" + "a" * 64: ("application/vnd.oci.image.manifest.v1+json", b'{"x":1}')},
                         {"sha256:" + "b" * 64: SealedLayer("bafkleaf", 12, "org", bytes(range(32)))})


def sealed(seq: int = 3) -> bytes:
    return seal_repository(REPO, namespace="example.com", seq=seq, publisher=ORG,
                           recipients=[ORG.box.public_key, PARTNER.box.public_key])


def test_payload_round_trip():
    assert PrivateRepository.from_payload(REPO.payload()) == REPO


def test_recipients_open_it_strangers_do_not():
    raw = sealed()
    for who in (ORG, PARTNER):
        opened = open_repository(raw, namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
                                 recipient=who)
        assert PrivateRepository.from_payload(opened.payload) == REPO and opened.seq == 3
    with pytest.raises(EnvelopeError, match="not a recipient"):
        open_repository(raw, namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
                        recipient=STRANGER)
    assert b"example.com/secret" not in raw and b"bafkleaf" not in raw


def test_an_envelope_served_for_another_repository_is_refused():
    raw = sealed()
    for namespace, repo in (("example.com", "example.com/other"), ("other.org", "other.org/secret")):
        with pytest.raises(EnvelopeError, match="not the one for"):
            open_repository(raw, namespace=namespace, repo=repo, publisher=ORG.sig.verify_key, recipient=PARTNER)
    # a payload naming another repository than the envelope's name is refused too
    lying = seal({**REPO.payload(), "repo": "example.com/other"}, namespace="example.com",
                 envelope_id=envelope_id("example.com", REPO.repo), seq=4, publisher=ORG,
                 recipients=[PARTNER.box.public_key])
    with pytest.raises(EnvelopeError, match="not the one for"):
        open_repository(lying, namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
                        recipient=PARTNER)


def test_rollback_is_refused():
    with pytest.raises(EnvelopeError, match="rollback"):
        open_repository(sealed(3), namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
                        recipient=PARTNER, min_seq=4)


@pytest.mark.parametrize("payload", [{}, {"v": 2}, {**REPO.payload(), "v": 2},
                                     {**REPO.payload(), "layers": {"d": {"cid": "x", "size": "n", "domain": "org",
                                                                         "key": "AA=="}}},
                                     {**REPO.payload(), "manifests": {"d": {"mediaType": "t", "data": "!!"}}}])
def test_malformed_payloads(payload):
    with pytest.raises(EnvelopeError, match="malformed"):
        PrivateRepository.from_payload(payload)


# -- the seal-v1 vector: it opens, and every failure vector is refused -------------
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from nacl.public import PrivateKey  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from sealedreg.crypto.keys import parse_tagged  # noqa: E402

V = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v1.json").read_text())


def _keys(doc) -> OrgKeys:
    return OrgKeys(doc["name"], SigningKey(parse_tagged(doc["sig"], "ed25519")),
                   PrivateKey(parse_tagged(doc["box"], "x25519")))


V_PUB, V_REC, V_STRANGER = _keys(V["publisher_key"]), _keys(V["recipient_key"]), _keys(V["stranger_key"])


def test_the_vector_opens_as_a_private_repository():
    opened = open_repository(V["envelope"].encode(), namespace="example.com", repo=V["payload"]["repo"],
                             publisher=V_PUB.sig.verify_key, recipient=V_REC)
    assert opened.payload == V["payload"] and opened.seq == V["seq"]
    assert PrivateRepository.from_payload(opened.payload).payload() == V["payload"]


@pytest.mark.parametrize("failure", V["failures"], ids=[f["name"] for f in V["failures"]])
def test_failure_vectors_are_refused(failure):
    who = V_STRANGER if failure["as"] == "stranger" else V_REC
    with pytest.raises(EnvelopeError, match=failure["error"]):
        open_repository(failure["envelope"].encode(), namespace="example.com", repo=failure["repo"],
                        publisher=V_PUB.sig.verify_key, recipient=who, min_seq=failure["min_seq"])
