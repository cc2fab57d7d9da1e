"""sealedreg-ce/v1 against its vectors, an independent HKDF, and every way to get it wrong."""

import asyncio
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealedreg.crypto import convergent as ce
from sealedreg.crypto.stream import decrypt_range, encrypt_file
from sealedreg.storage.unixfs import chunked, file_cid

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "ce-v1.json").read_text())["cases"]


def plaintext(case: dict) -> bytes:
    p = case["plaintext"]
    if "hex" in p:
        return bytes.fromhex(p["hex"])
    return bytes(i % 251 for i in range(p["pattern_mod251"]))


def rfc5869(salt: bytes, ikm: bytes, info: bytes, n: int) -> bytes:
    """HKDF written out from RFC 5869 with the standard library, as a cross-check."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:n]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors(case):
    plain = plaintext(case)
    assert "sha256:" + hashlib.sha256(plain).hexdigest() == case["digest"]
    secret = bytes.fromhex(case["secret_hex"]) if case["secret_hex"] else None
    key = ce.derive_key(case["digest"], secret)
    assert key.hex() == case["key_hex"]
    assert key == rfc5869(secret or bytes(32), case["digest"].encode(), b"sealedreg-ce/v1 key", 32)
    ct = ce.encrypt(plain, key)
    assert len(ct) == case["ciphertext_size"] == ce.ciphertext_size(len(plain))
    assert hashlib.sha256(ct).hexdigest() == case["ciphertext_sha256"]
    if "ciphertext_hex" in case:
        assert ct.hex() == case["ciphertext_hex"]
    pieces = chunked(ct)
    assert [p[:16].hex() for p in pieces] == case["chunk_heads_hex"]
    assert [p[-16:].hex() for p in pieces] == case["chunk_tags_hex"]
    assert all(len(p) == ce.CHUNK for p in pieces[:-1])
    assert file_cid(pieces) == case["cid"]
    assert ce.decrypt(ct, key) == plain


def test_same_blob_same_ciphertext_different_domain_different():
    d = "sha256:" + "1" * 64
    assert ce.encrypt(b"layer", ce.derive_key(d)) == ce.encrypt(b"layer", ce.derive_key(d))
    assert ce.derive_key(d) != ce.derive_key(d, bytes(range(32)))
    assert ce.derive_key(d, bytes(range(32))) != ce.derive_key(d, bytes(range(1, 33)))


def test_wrong_key():
    ct = ce.encrypt(b"secret layer", ce.derive_key("sha256:" + "a" * 64))
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(ct, ce.derive_key("sha256:" + "b" * 64))


def test_tampered_byte_anywhere():
    key = ce.derive_key("sha256:" + "c" * 64)
    ct = bytearray(ce.encrypt(bytes(ce.PLAIN_CHUNK + 10), key))
    for pos in (0, 500, ce.CHUNK - 1, ce.CHUNK, len(ct) - 1):
        bad = bytearray(ct)
        bad[pos] ^= 0x80
        with pytest.raises(ce.DecryptionError):
            ce.decrypt(bytes(bad), key)


def test_truncated_extended_reordered():
    key = ce.derive_key("sha256:" + "d" * 64)
    plain = bytes(range(256)) * 10000
    ct = ce.encrypt(plain, key)
    chunks = chunked(ct)
    # dropping the last chunk leaves a non-final chunk where the final one should be
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(b"".join(chunks[:-1]), key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(ct[:-1], key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(ct + chunks[-1], key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(chunks[1] + chunks[0] + b"".join(chunks[2:]), key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(b"short", key)


def test_bad_secret_size():
    with pytest.raises(ValueError):
        ce.derive_key("sha256:" + "e" * 64, b"too short")


def test_size_arithmetic():
    for n in (0, 1, ce.PLAIN_CHUNK - 1, ce.PLAIN_CHUNK, ce.PLAIN_CHUNK + 1, 10 * ce.PLAIN_CHUNK):
        assert ce.plain_size_of(ce.ciphertext_size(n)) == n
    for bad in (0, 5, ce.CHUNK + 3):
        with pytest.raises(ValueError):
            ce.plain_size_of(bad)


def _run(coro):
    return asyncio.run(coro)


BLOB = bytes((i * 7919) % 256 for i in range(3 * ce.PLAIN_CHUNK + 1234))
BLOB_KEY = ce.derive_key("sha256:" + hashlib.sha256(BLOB).hexdigest())
BLOB_CT = ce.encrypt(BLOB, BLOB_KEY)


@settings(max_examples=60, deadline=None)
@given(offset=st.integers(0, len(BLOB) - 1), length=st.integers(1, 2 * ce.CHUNK + 10),
       piece=st.sampled_from([1000, 65536, ce.CHUNK, 3 * ce.CHUNK]))
def test_decrypt_range_matches_plaintext(offset, length, piece):
    length = min(length, len(BLOB) - offset)
    fetched = []

    async def read(o, n):
        fetched.append((o, n))
        data = BLOB_CT[o:o + n]
        for i in range(0, len(data), piece):
            yield data[i:i + piece]

    async def go():
        return b"".join([p async for p in decrypt_range(read, BLOB_KEY, len(BLOB), offset, length)])

    assert _run(go()) == BLOB[offset:offset + length]
    (o, n), = fetched
    assert o % ce.CHUNK == 0  # only whole chunks covering the range are read
    assert n <= (length // ce.PLAIN_CHUNK + 2) * ce.CHUNK


def test_encrypt_file_streams_leaves(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(BLOB)

    async def go():
        return [c async for c in encrypt_file(f, len(BLOB), BLOB_KEY)]

    leaves = _run(go())
    assert b"".join(leaves) == BLOB_CT
    assert [len(c) for c in leaves[:-1]] == [ce.CHUNK] * (len(leaves) - 1)


def test_encrypt_file_refuses_short_file(tmp_path):
    f = tmp_path / "blob"
    f.write_bytes(b"abc")

    async def go():
        return [c async for c in encrypt_file(f, 10, BLOB_KEY)]

    with pytest.raises(EOFError):
        _run(go())
