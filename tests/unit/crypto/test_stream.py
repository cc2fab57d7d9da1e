"""Ranges and framing of sealedreg-ce/v1 ciphertext: pure, any piece sizes."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealedreg.crypto import convergent as ce
from sealedreg.crypto.stream import Framer, RangeDecryptor, cipher_span

BLOB = bytes((i * 7919) % 256 for i in range(3 * ce.PLAIN_CHUNK + 1234))
KEY = ce.derive_key("sha256:" + hashlib.sha256(BLOB).hexdigest())
CT = ce.encrypt(BLOB, KEY)


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@settings(max_examples=80, deadline=None)
@given(offset=st.integers(0, len(BLOB) - 1), length=st.integers(1, 2 * ce.CHUNK + 10),
       piece=st.sampled_from([1, 1000, 65536, ce.CHUNK, ce.CHUNK + 7, 3 * ce.CHUNK]))
def test_range_decryption_matches_plaintext(offset, length, piece):
    length = min(length, len(BLOB) - offset)
    dec = RangeDecryptor(KEY, len(BLOB), offset, length)
    span = dec.span
    assert span.start % ce.CHUNK == 0 and span.start <= offset // ce.PLAIN_CHUNK * ce.CHUNK
    assert span.end - span.start <= (length // ce.PLAIN_CHUNK + 2) * ce.CHUNK  # only the covering chunks
    framer = dec.framer()
    out = b"".join(dec.decrypt(i, c) for p in pieces(CT[span.start:span.end], piece) for i, c in framer.feed(p))
    framer.finish()
    assert out == BLOB[offset:offset + length]


@settings(max_examples=80, deadline=None)
@given(cuts=st.lists(st.integers(0, len(CT)), max_size=12))
def test_any_cut_of_the_ciphertext_frames_the_same_chunks(cuts):
    """Pieces of mixed sizes, empty ones, and one spanning several chunks all
    give back exactly the chunks, as bytes."""
    bounds = [0, *sorted(cuts), len(CT)]
    framer = Framer(len(BLOB))
    chunks = [c for a, b in zip(bounds, bounds[1:]) for c in framer.feed(CT[a:b])]
    framer.finish()
    assert [i for i, _ in chunks] == [0, 1, 2, 3]
    assert all(type(c) is bytes for _, c in chunks)
    assert b"".join(c for _, c in chunks) == CT


def test_whole_blob_and_empty_blob_spans():
    span = cipher_span(len(BLOB))
    assert (span.first, span.last, span.start, span.end) == (0, 3, 0, len(CT))
    empty = cipher_span(0)
    assert (empty.first, empty.last, empty.start, empty.end) == (0, 0, 0, 16)  # the empty blob is one tag
    assert cipher_span(10, 3, 0).start == cipher_span(10, 3, 0).end
    for bad in ((-1, 1), (0, len(BLOB) + 1), (len(BLOB), 1)):
        with pytest.raises(ValueError):
            cipher_span(len(BLOB), *bad)


def test_a_piece_that_is_a_chunk_passes_without_a_copy():
    framer = Framer(len(BLOB))
    first = CT[:ce.CHUNK]
    ((index, chunk),) = framer.feed(first)
    assert index == 0 and chunk is first


def test_truncated_and_extended_ciphertext_are_refused():
    framer = Framer(len(BLOB))
    for p in pieces(CT[:-1], ce.CHUNK):
        framer.feed(p)
    with pytest.raises(ce.DecryptionError, match="ended early"):
        framer.finish()
    framer = Framer(len(BLOB))
    with pytest.raises(ce.DecryptionError, match="past its last chunk"):
        for p in pieces(CT + b"x", 3 * ce.CHUNK):
            framer.feed(p)


def test_swapped_or_misplaced_chunks_fail_authentication():
    dec = RangeDecryptor(KEY, len(BLOB))
    chunks = [c for p in pieces(CT, ce.CHUNK) for _, c in dec.framer().feed(p)]
    with pytest.raises(ce.DecryptionError):
        dec.decrypt(0, chunks[1])
    with pytest.raises(ce.DecryptionError, match="outside the range"):
        RangeDecryptor(KEY, len(BLOB), 0, 10).decrypt(2, chunks[2])
    wrong = RangeDecryptor(ce.derive_key("sha256:" + "0" * 64), len(BLOB))
    with pytest.raises(ce.DecryptionError, match="authentication failed"):
        wrong.decrypt(0, chunks[0])
