"""A recipient's index: only the pair it was sealed for opens it, only for the
tree (namespace and seq) it was sealed in, and to anyone else it is a blob
of bucketed size, like a filler."""

import json
from pathlib import Path

import pytest

from sealedreg.crypto.envelope import open_envelope
from sealedreg.crypto.keys import parse_keys
from sealedreg.crypto.padding import MIN_INDEX, is_bucket
from sealedreg.crypto.pairwise import as_publisher, as_recipient
from sealedreg.crypto.recipient_index import MAX_INDEX, IndexEntry, IndexError_, filler, open_index, seal_index

V = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v2.json").read_text())
KEYS = {role: parse_keys(json.dumps(doc).encode(), "vector", role) for role, doc in V["keys"].items()}
PUB, REC = KEYS["publisher"], KEYS["recipient"]
I = V["index"]
INDEX = bytes.fromhex(I["index_hex"])
NS, SEQ = I["namespace"], I["seq"]


def _pair(role: str, namespace: str = NS):
    """What `role` shares with the publisher in `namespace`, as the recipient computes it."""
    return as_recipient(KEYS[role].box, PUB.box.public_key, namespace)


PAIR = _pair("recipient")


def test_vector_opens_for_its_recipient_and_names_its_envelope_and_stanza():
    entries = open_index(INDEX, pair=_pair(I["as"]), namespace=NS, seq=SEQ)
    assert [e.__dict__ for e in entries] == I["entries"]
    assert PAIR.index_name(SEQ) == I["name"]
    assert open_index(INDEX, pair=as_publisher(PUB.box, REC.box.public_key, NS), namespace=NS, seq=SEQ) == entries


def test_vector_index_leads_to_the_envelope_stanza():
    (entry,) = open_index(INDEX, pair=PAIR, namespace=NS, seq=SEQ)
    envelope = V["envelope"]
    assert entry.envelope == envelope["id"] and entry.stanza == envelope["positions"]["recipient"]
    opened = open_envelope(envelope["envelope"].encode(), publisher=PUB.sig.verify_key, recipient=REC.box,
                           namespace=NS, min_seq=SEQ, stanza=entry.stanza)
    assert opened.payload["repo"] == entry.repo


@pytest.mark.parametrize("failure", V["index_failures"], ids=[f["name"] for f in V["index_failures"]])
def test_index_failure_vectors(failure):
    with pytest.raises(IndexError_, match=failure["error"]):
        open_index(bytes.fromhex(failure["index_hex"]), pair=_pair(failure["as"]), namespace=failure["namespace"],
                   seq=failure["seq"])


# -- fresh indexes -------------------------------------------------------------------
ENTRIES = [IndexEntry("example.com/zeta", "ab" * 32, 3), IndexEntry("example.com/alpha", "cd" * 32, 0)]


def _seal(entries=ENTRIES, namespace: str = NS, seq: int = SEQ) -> bytes:
    return seal_index(entries, pair=PAIR, namespace=namespace, seq=seq)


def test_a_fresh_index_opens_with_its_entries_sorted():
    assert open_index(_seal(), pair=PAIR, namespace=NS, seq=SEQ) == sorted(ENTRIES, key=lambda e: e.repo)
    assert open_index(_seal([]), pair=PAIR, namespace=NS, seq=SEQ) == []


@pytest.mark.parametrize("namespace, seq", [("other.org", SEQ), (NS, SEQ + 1), (NS, SEQ - 1), (NS, 0)])
def test_an_index_opened_for_another_tree_is_refused(namespace, seq):
    """Replaying last tree's index, or another namespace's, into this tree does not work."""
    with pytest.raises(IndexError_, match="does not open"):
        open_index(_seal(), pair=PAIR, namespace=namespace, seq=seq)


def test_the_pair_is_bound_to_the_namespace_too():
    """The same two organisations' pair in another namespace opens nothing here."""
    with pytest.raises(IndexError_, match="does not open"):
        open_index(_seal(), pair=_pair("recipient", "other.org"), namespace=NS, seq=SEQ)


def test_sizes_are_buckets_and_fillers_look_the_same():
    small, empty = _seal(), _seal([])
    assert len(small) == len(empty) == 24 + MIN_INDEX + 16
    many = [IndexEntry(f"example.com/repo-{i:04}", f"{i:064x}", i % 8) for i in range(40)]
    padded = len(_seal(many)) - 24 - 16
    assert padded > MIN_INDEX and is_bucket(padded, MIN_INDEX)
    assert len(filler(len(small))) == len(small) and filler(len(small)) != filler(len(small))
    with pytest.raises(IndexError_, match="does not open"):
        open_index(filler(len(small)), pair=PAIR, namespace=NS, seq=SEQ)


def test_nothing_in_an_index_is_readable():
    raw = _seal()
    for text in ("example.com", "zeta", "ab" * 32, "sealedreg-index"):
        assert text.encode() not in raw
    assert _seal() != raw  # a fresh nonce each time


@pytest.mark.parametrize("size", [0, 1, 39])
def test_too_short_is_refused(size):
    with pytest.raises(IndexError_, match="not a recipient index"):
        open_index(bytes(size), pair=PAIR, namespace=NS, seq=SEQ)


def test_oversize_is_refused_before_decrypting():
    with pytest.raises(IndexError_, match="not a recipient index"):
        open_index(_seal() + bytes(MAX_INDEX), pair=PAIR, namespace=NS, seq=SEQ)
