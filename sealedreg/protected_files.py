"""Protected files: created 0600, refused when anyone else could read them.

Every secret the registry keeps is a file only its owner may read
(docs/format.md §2, docs/auth.md "Secrets and logs"): an organisation's
dedupe-domain secret (32 random bytes in a file of its own), key files, the
users file and the token key. Their bytes are never logged or put in an error
message.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

SECRET_SIZE = 32
"""Bytes in a dedupe-domain secret file."""


class SecretFileError(ValueError):
    """A secret file that is missing, the wrong size or too open."""


def create_secret(path: Path, size: int = SECRET_SIZE) -> None:
    """Write `size` fresh random bytes to a new file, mode 0600; never overwrite."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SecretFileError(f"{path} already exists; refusing to overwrite a secret") from None
    with os.fdopen(fd, "wb") as f:
        f.write(os.urandom(size))
        f.flush()
        os.fsync(f.fileno())


def check_private(path: Path, what: str, error: type[Exception] = SecretFileError) -> os.stat_result:
    """stat() a file that must stay private: `error` if it is missing or group/other can touch it.

    Every secret the registry reads (org secrets, key files, the users file,
    the token key) goes through here."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{what} {path} not found") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise error(f"{what} {path} is readable by others (mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
    return st


def load_secret(path: Path, size: int = SECRET_SIZE) -> bytes:
    check_private(path, "secret file")
    data = path.read_bytes()
    if len(data) != size:
        raise SecretFileError(f"secret file {path} must hold exactly {size} bytes")
    return data
