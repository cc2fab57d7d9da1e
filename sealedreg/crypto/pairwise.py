"""Secrets a publisher shares with each recipient without a word exchanged
(docs/format.md §8): the X25519 shared secret of the publisher's box key and
the recipient's. Both sides compute it from their own secret key and the
other's public key (both in DNS); nobody holding only public keys can. It
names and encrypts the recipient's index of a namespace tree, so an outsider
can neither find an organisation's index nor tell whose an index is.

    ss         = X25519(own secret, other public)       (refused when all zero: a low-order key)
    pair       = HKDF-SHA256(ikm = ss, salt = "sealedreg-seal/v2 pair",
                             info = publisher box pk ‖ recipient box pk ‖ namespace, 64 bytes)
    name_key   = pair[0:32]
    index_key  = pair[32:64]
    index name = hex(HMAC-SHA256(name_key, "sealedreg index" ‖ u64be(seq)))

The name changes with every `seq`, so trees published one after another
cannot be linked through a recipient's index either.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from nacl.bindings import crypto_scalarmult
from nacl.exceptions import RuntimeError as NaclRuntimeError
from nacl.public import PrivateKey, PublicKey

SALT = b"sealedreg-seal/v2 pair"


class PairError(ValueError):
    """A box key no shared secret can be made with (a low-order point)."""


@dataclass(frozen=True)
class PairKeys:
    """What one publisher and one recipient share, for one namespace."""

    name_key: bytes = field(repr=False)
    index_key: bytes = field(repr=False)

    def index_name(self, seq: int) -> str:
        """The file name of the recipient's index in the tree of sequence `seq`."""
        return hmac.new(self.name_key, b"sealedreg index" + struct.pack(">Q", seq), hashlib.sha256).hexdigest()


def shared_secret(own: PrivateKey, other: PublicKey) -> bytes:
    try:
        secret = crypto_scalarmult(bytes(own), bytes(other))
    except NaclRuntimeError:  # libsodium refuses an all-zero result
        raise PairError("this box key is a low-order point: no secret can be shared with it") from None
    if not any(secret):
        raise PairError("this box key is a low-order point: no secret can be shared with it")
    return secret


def _derive(secret: bytes, publisher: PublicKey, recipient: PublicKey, namespace: str) -> PairKeys:
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=SALT,
               info=bytes(publisher) + bytes(recipient) + namespace.encode()).derive(secret)
    return PairKeys(okm[:32], okm[32:])


def as_publisher(publisher: PrivateKey, recipient: PublicKey, namespace: str) -> PairKeys:
    """The pair keys, computed by the publisher."""
    return _derive(shared_secret(publisher, recipient), publisher.public_key, recipient, namespace)


def as_recipient(recipient: PrivateKey, publisher: PublicKey, namespace: str) -> PairKeys:
    """The same pair keys, computed by the recipient."""
    return _derive(shared_secret(recipient, publisher), publisher, recipient.public_key, namespace)
