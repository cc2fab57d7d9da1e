"""A private repository in the tree: what its envelope holds, what it is
bound to, and how a recipient finds it through its index."""

import asyncio

import pytest

from sealedreg.crypto.envelope import EnvelopeError, seal
from sealedreg.crypto.keys import OrgKeys, kid
from sealedreg.publish import layout
from sealedreg.publish.sealing import (PrivateRepository, SealedLayer, SealedRepository, find_private,
                                       open_repository, recipient_index, seal_private)

ORG, PARTNER, STRANGER = (OrgKeys.generate(n) for n in ("example.com", "partner.org", "stranger.net"))
REPO = PrivateRepository("example.com/secret", {"1.0": "sha256:" + "a" * 64},
                         {"sha256:" + "a" * 64: ("application/vnd.oci.image.manifest.v1+json", b'{"x":1}')},
                         {"sha256:" + "b" * 64: SealedLayer("bafkleaf", 12, "org", bytes(range(32)))})
OTHER = PrivateRepository("example.com/other", {}, {}, {})


def sealed_files(seq: int = 3, repos=None, publisher: OrgKeys = ORG) -> dict[str, bytes]:
    repos = repos if repos is not None else [SealedRepository(REPO, (PARTNER.box.public_key,)),
                                             SealedRepository(OTHER)]
    return seal_private(repos, namespace="example.com", seq=seq, publisher=publisher)


def find(files: dict[str, bytes], repo: str, recipients: list[OrgKeys], seq: int = 3, version: int = 2,
         publisher: OrgKeys = ORG):
    async def read(path: str) -> bytes:
        if path not in files:
            raise LookupError(path)
        return files[path]
    return asyncio.run(find_private(read, namespace="example.com", repo=repo, version=version, seq=seq,
                                    publisher=publisher.sig.verify_key, publisher_box=publisher.box.public_key,
                                    recipients=recipients))


def envelope_of(files: dict[str, bytes], repo: str) -> bytes:
    (raw,) = [raw for path, raw in files.items() if path.endswith(".json") and _opens(raw, repo)]
    return raw


def _opens(raw: bytes, repo: str) -> bool:
    try:
        open_repository(raw, namespace="example.com", repo=repo, publisher=ORG.sig.verify_key, recipient=ORG)
        return True
    except EnvelopeError:
        return False


def test_payload_round_trip():
    assert PrivateRepository.from_payload(REPO.payload()) == REPO


def test_the_tree_files_name_nothing():
    files = sealed_files()
    envelopes = [p for p in files if p.endswith(".json")]
    indexes = [p for p in files if p.startswith(layout.INDEX_DIR + "/")]
    assert len(envelopes) == 2 and len(indexes) == 8  # 2 recipients, padded to the count bucket
    for path, raw in files.items():
        for needle in (b"example.com/secret", b"bafkleaf", kid(bytes(PARTNER.box.public_key)).encode(),
                       bytes(PARTNER.box.public_key)):
            assert needle not in raw and needle.decode(errors="ignore") not in path
    assert len({len(files[p]) for p in indexes}) == 1  # fillers are as long as real indexes


def test_recipients_find_and_open_it_through_their_index():
    files = sealed_files()
    for who in (ORG, PARTNER):
        opened = find(files, REPO.repo, [who])
        assert opened is not None and PrivateRepository.from_payload(opened.payload) == REPO and opened.seq == 3
    assert find(files, OTHER.repo, [PARTNER]) is None  # not granted
    assert find(files, OTHER.repo, [ORG]).payload["repo"] == OTHER.repo
    assert find(files, REPO.repo, [STRANGER]) is None
    assert find(files, "example.com/nothing", [ORG]) is None


def test_each_recipient_lists_only_its_own_repositories():
    files = sealed_files()

    async def read(path: str) -> bytes:
        if path not in files:
            raise LookupError(path)
        return files[path]

    def listed(who: OrgKeys) -> set[str]:
        return {e.repo for _, e in asyncio.run(recipient_index(read, namespace="example.com", seq=3,
                                                               publisher_box=ORG.box.public_key, recipient=who))}
    assert listed(ORG) == {REPO.repo, OTHER.repo}
    assert listed(PARTNER) == {REPO.repo}
    assert listed(STRANGER) == set()


def test_index_names_change_with_every_seq():
    first, second = sealed_files(3), sealed_files(4)
    assert not set(first) & set(second)
    assert find(second, REPO.repo, [PARTNER], seq=3) is None  # looked up under the wrong seq: not found


def test_an_envelope_older_than_the_tree_is_refused():
    old = envelope_of(sealed_files(3), REPO.repo)
    newer = sealed_files(4)
    current = envelope_of(newer, REPO.repo)
    swapped = {p: (old if r == current else r) for p, r in newer.items()}
    with pytest.raises(EnvelopeError, match="rollback"):
        find(swapped, REPO.repo, [PARTNER], seq=4)


def test_a_rotated_recipient_still_opens_with_its_previous_key():
    files = sealed_files()
    rotated = PARTNER.rotated()
    assert find(files, REPO.repo, [rotated]).payload["repo"] == REPO.repo
    assert open_repository(envelope_of(files, REPO.repo), namespace="example.com", repo=REPO.repo,
                           publisher=ORG.sig.verify_key, recipient=rotated).payload["repo"] == REPO.repo


def test_an_envelope_served_for_another_repository_is_refused():
    raw = envelope_of(sealed_files(), REPO.repo)
    for namespace, repo in (("example.com", "example.com/other"), ("other.org", "other.org/secret")):
        with pytest.raises(EnvelopeError, match="not the one for|not for"):
            open_repository(raw, namespace=namespace, repo=repo, publisher=ORG.sig.verify_key, recipient=PARTNER)
    lying = seal({**REPO.payload(), "repo": "example.com/other"}, namespace="example.com", seq=4, publisher=ORG,
                 recipients=[PARTNER.box.public_key]).raw
    with pytest.raises(EnvelopeError, match="not the one for"):
        open_repository(lying, namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
                        recipient=PARTNER)


def test_a_stranger_cannot_open_an_envelope_by_trial():
    raw = envelope_of(sealed_files(), REPO.repo)
    with pytest.raises(EnvelopeError, match="not a recipient"):
        open_repository(raw, namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
                        recipient=STRANGER)


def test_rollback_is_refused():
    raw = envelope_of(sealed_files(3), REPO.repo)
    with pytest.raises(EnvelopeError, match="rollback"):
        open_repository(raw, namespace="example.com", repo=REPO.repo, publisher=ORG.sig.verify_key,
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


def test_v1_trees_still_open_by_their_computed_envelope_name():
    files = {layout.envelope_path(layout.v1_envelope_id("example.com", V["payload"]["repo"])): V["envelope"].encode()}
    opened = find(files, V["payload"]["repo"], [V_REC], seq=V["seq"], version=1, publisher=V_PUB)
    assert opened is not None and opened.payload == V["payload"] and opened.version == "sealedreg-seal/v1"
    assert find(files, V["payload"]["repo"], [V_STRANGER], seq=V["seq"], version=1, publisher=V_PUB) is None
    with pytest.raises(EnvelopeError, match="rollback"):
        find(files, V["payload"]["repo"], [V_REC], seq=V["seq"] + 1, version=1, publisher=V_PUB)


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
