"""A recipient's index of a namespace tree (docs/format.md §8): which
envelopes it may open, and at which stanza. One file per recipient, named
and encrypted with the keys it shares with the publisher
(`sealedreg.crypto.pairwise`), so finding a private repository costs one
lookup per own key, never a trial decryption of every envelope — and to an
outsider every index is an anonymous blob of bucketed size.

    plaintext = pad(canonical({"v":"sealedreg-index/v2","ns":…,"seq":N,
                               "entries":[{"repo":…,"envelope":"<id>","stanza":i},…]}))
    file      = nonce (24 random bytes) ‖ XChaCha20-Poly1305(index_key, nonce, plaintext,
                                                             AAD = "sealedreg-index/v2" ‖ 0 ‖ ns ‖ 0 ‖ seq)

The index is a locator, not an authority: it is not signed, and a reader
trusts only the envelope it leads to (signed by the publisher, and naming
the repository inside). Filler files — random bytes of an index's length —
pad the number of indexes to a count bucket.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError

from sealedreg.crypto.padding import MIN_INDEX, PaddingError, pad, unpad
from sealedreg.crypto.pairwise import PairKeys
from sealedreg.crypto.signed import canonical

VERSION = "sealedreg-index/v2"
MAX_INDEX = 4 << 20


class IndexError_(ValueError):
    """An index this pair's key does not open, or one that is malformed."""


@dataclass(frozen=True)
class IndexEntry:
    repo: str
    envelope: str  # the envelope's id: its file name without `.json`
    stanza: int


def _aad(namespace: str, seq: int) -> bytes:
    return f"{VERSION}\0{namespace}\0{seq}".encode()


def seal_index(entries: list[IndexEntry], *, pair: PairKeys, namespace: str, seq: int) -> bytes:
    doc = {"v": VERSION, "ns": namespace, "seq": seq,
           "entries": [{"repo": e.repo, "envelope": e.envelope, "stanza": e.stanza}
                       for e in sorted(entries, key=lambda e: e.repo)]}
    nonce = os.urandom(24)
    return nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(pad(canonical(doc), MIN_INDEX), _aad(namespace, seq),
                                                              nonce, pair.index_key)


def filler(size: int) -> bytes:
    """An index file nobody can open, of an index's `size`."""
    return os.urandom(size)


def open_index(raw: bytes, *, pair: PairKeys, namespace: str, seq: int) -> list[IndexEntry]:
    """The entries of the index of `namespace` at `seq`; IndexError_ if this
    pair's key does not open it or it is not for that tree."""
    if len(raw) > MAX_INDEX or len(raw) < 24 + 16:
        raise IndexError_("not a recipient index")
    try:
        padded = crypto_aead_xchacha20poly1305_ietf_decrypt(raw[24:], _aad(namespace, seq), raw[:24],
                                                            pair.index_key)
    except CryptoError:
        raise IndexError_("this index does not open with our key, or is for another tree") from None
    try:
        doc = json.loads(unpad(padded, MIN_INDEX))
        mine = isinstance(doc, dict) and (doc.get("v"), doc.get("ns"), doc.get("seq")) == (VERSION, namespace, seq)
        entries = [IndexEntry(str(e["repo"]), str(e["envelope"]), int(e["stanza"])) for e in doc["entries"]]
    except (PaddingError, ValueError, KeyError, TypeError, AttributeError, OverflowError, RecursionError) as exc:
        raise IndexError_(f"the index is malformed: {exc}") from None
    if not mine:
        raise IndexError_("the index is for another tree")
    return entries
