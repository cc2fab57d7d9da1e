"""`sealedreg-ce/v1`: convergent encryption of blobs (docs/format.md §2).

The key is a function of the blob's verified digest and of its dedupe
domain's secret, so the same blob in the same domain always becomes the same
ciphertext — and therefore the same IPFS CID — wherever it is pushed:

    PRK   = HKDF-Extract(salt = S or 32 zero bytes, IKM = utf8(digest))
    K     = HKDF-Expand(PRK, "sealedreg-ce/v1 key", 32)
    chunk i of P = 1 MiB − 16 plaintext bytes, nonce = i (11 bytes BE) ‖ last-flag
    C_i   = AES-256-GCM(K, nonce_i, chunk_i, AAD = "sealedreg-ce/v1")

Every full ciphertext chunk is exactly 1 MiB: one IPFS leaf. Deterministic
nonces are safe because a key only ever encrypts one plaintext: a blob is
encrypted only after its bytes are verified to hash to the digest the key
comes from (docs/format.md §2). The STREAM-style last flag makes truncation and
extension detectable; the counter makes reordering detectable.

Functions here are pure and blocking; callers run the heavy loops in a
worker thread (`sealedreg.registry.content`).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sealedreg.protected_files import SECRET_SIZE

VERSION = "sealedreg-ce/v1"
AAD = VERSION.encode()
KEY_INFO = b"sealedreg-ce/v1 key"
TAG = 16
CHUNK = 1 << 20  # ciphertext bytes per full chunk: one IPFS leaf
PLAIN_CHUNK = CHUNK - TAG  # 1,048,560 plaintext bytes per chunk


class DecryptionError(ValueError):
    """A chunk failed authentication: wrong key, tampered or misplaced bytes."""


def derive_key(digest: str, secret: bytes | None = None) -> bytes:
    """The AES-256 key for the blob with `digest` in the domain of `secret`.

    `secret` is None (or empty) for the global domain, else the
    organisation's 32-byte secret.
    """
    if secret and len(secret) != SECRET_SIZE:
        raise ValueError(f"a domain secret is {SECRET_SIZE} bytes, not {len(secret)}")
    salt = secret or bytes(32)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=KEY_INFO).derive(digest.encode())


def chunk_count(plain_size: int) -> int:
    """Number of chunks: the empty blob is one empty final chunk."""
    return max(1, -(-plain_size // PLAIN_CHUNK))


def ciphertext_size(plain_size: int) -> int:
    return plain_size + TAG * chunk_count(plain_size)


def plain_size_of(cipher_size: int) -> int:
    """Inverse of `ciphertext_size`; raises for a size no plaintext produces."""
    full, rest = divmod(cipher_size, CHUNK)
    if rest == 0 and full > 0:
        return full * PLAIN_CHUNK
    if rest < TAG:
        raise ValueError(f"{cipher_size} is not a valid {VERSION} ciphertext size")
    return full * PLAIN_CHUNK + rest - TAG


def plain_length(plain_size: int, index: int) -> int:
    """Plaintext bytes in chunk `index` of a blob of `plain_size` bytes."""
    chunks = chunk_count(plain_size)
    if not 0 <= index < chunks:
        raise ValueError(f"chunk {index} out of range (blob has {chunks})")
    return plain_size - index * PLAIN_CHUNK if index == chunks - 1 else PLAIN_CHUNK


def nonce(index: int, last: bool) -> bytes:
    if not 0 <= index < 1 << 88:
        raise ValueError("chunk index out of range")
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class ChunkCipher:
    """Encrypts and decrypts the chunks of one blob under one key."""

    def __init__(self, key: bytes, plain_size: int) -> None:
        self._aead = AESGCM(key)
        self.plain_size = plain_size
        self.chunks = chunk_count(plain_size)

    def is_last(self, index: int) -> bool:
        return index == self.chunks - 1

    def plain_length(self, index: int) -> int:
        return plain_length(self.plain_size, index)

    def encrypt(self, index: int, plain: bytes) -> bytes:
        if len(plain) != self.plain_length(index):
            raise ValueError(f"chunk {index}: expected {self.plain_length(index)} bytes, got {len(plain)}")
        return self._aead.encrypt(nonce(index, self.is_last(index)), plain, AAD)

    def decrypt(self, index: int, cipher: bytes) -> bytes:
        if len(cipher) != self.plain_length(index) + TAG:
            raise DecryptionError(f"chunk {index}: ciphertext has the wrong length ({len(cipher)})")
        try:
            return self._aead.decrypt(nonce(index, self.is_last(index)), cipher, AAD)
        except InvalidTag:
            raise DecryptionError(f"chunk {index}: authentication failed") from None


def encrypt(data: bytes, key: bytes) -> bytes:
    """Encrypt a whole (small) blob in memory; for test vectors and manifests."""
    c = ChunkCipher(key, len(data))
    return b"".join(c.encrypt(i, data[i * PLAIN_CHUNK:(i + 1) * PLAIN_CHUNK]) for i in range(c.chunks))


def decrypt(cipher: bytes, key: bytes) -> bytes:
    """Decrypt a whole (small) ciphertext in memory, checking every chunk."""
    try:
        size = plain_size_of(len(cipher))
    except ValueError as exc:
        raise DecryptionError(str(exc)) from None
    c = ChunkCipher(key, size)
    return b"".join(c.decrypt(i, cipher[i * CHUNK:(i + 1) * CHUNK]) for i in range(c.chunks))
