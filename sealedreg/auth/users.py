"""Users: an htpasswd file of bcrypt hashes, the format `htpasswd -B` writes.

    alice:$2y$10$…
    bob:$2y$05$…

One `name:hash` per line; blank lines and `#` comments are kept as they are.
Only bcrypt hashes (`$2y$`, `$2b$`, `$2a$`) are accepted: an entry with any
other scheme (MD5, SHA1, crypt) never authenticates and is reported (by name,
never by hash) when the file is read. Like bcrypt in Apache, only the first
72 bytes of a password count; `user add` refuses longer passwords instead of
silently cutting them.

The file holds password hashes, so it is a secret (docs/auth.md): written
0600, atomically, under a lock on its directory; a file others can read is
refused. Neither passwords nor hashes are ever logged or put in an error.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from sealedreg.protected_files import check_private
from sealedreg.fileio import fsync_dir

log = logging.getLogger("sealedreg.auth")

BCRYPT_COST = 10
"""Cost of the hashes `user add` writes: ~60 ms a check on one core."""

PASSWORD_MAX_BYTES = 72
_BCRYPT_PREFIXES = ("$2y$", "$2b$", "$2a$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
_FILE_NAME = re.compile(r"^[^\s:#]{1,128}$")
"""Names accepted from a users file written by other tools (htpasswd only forbids `:`)."""


class UsersFileError(ValueError):
    """A users file that cannot be used, or a bad user name / password."""


def validate_user_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UsersFileError("user names are 1-64 characters: letters, digits and . _ @ + - "
                             "(not starting with a punctuation character)")
    return name


def validate_password(password: str) -> str:
    if not password:
        raise UsersFileError("empty password")
    if len(password.encode()) > PASSWORD_MAX_BYTES:
        raise UsersFileError(f"password longer than {PASSWORD_MAX_BYTES} bytes (bcrypt ignores the rest)")
    if "\n" in password or "\r" in password:
        raise UsersFileError("password contains a line break")
    return password


def hash_password(password: str, cost: int | None = None) -> str:
    """A bcrypt hash in the `$2y$` form `htpasswd -B` writes (same algorithm as `$2b$`)."""
    salt = bcrypt.gensalt(cost or BCRYPT_COST)
    hashed = bcrypt.hashpw(validate_password(password).encode(), salt).decode()
    return "$2y$" + hashed[4:]


def is_bcrypt(hashed: str) -> bool:
    return hashed.startswith(_BCRYPT_PREFIXES)


def bcrypt_cost(hashed: str) -> int | None:
    """The cost of a bcrypt hash (`$2y$05$…` → 5), None if it is not one."""
    if not is_bcrypt(hashed):
        return None
    try:
        return int(hashed.split("$")[2])
    except (IndexError, ValueError):
        return None


def check_password(password: str, hashed: str, cost: int | None = None) -> bool:
    """True if `password` matches the bcrypt hash (blocking: ~cost-dependent ms).

    A hash that is not bcrypt never matches, but still costs a dummy check of
    `cost`, so the time taken says nothing about what the file holds."""
    if not is_bcrypt(hashed):
        return dummy_check(password, cost)
    try:
        return bcrypt.checkpw(password.encode()[:PASSWORD_MAX_BYTES], hashed.encode())
    except ValueError:  # a corrupt hash
        return False


_DUMMY_HASHES: dict[int, str] = {}


def dummy_check(password: str, cost: int | None = None) -> bool:
    """Spend the time a real check of `cost` would (for an unknown user: the
    users file's highest cost, so unknown and known users take as long); always False."""
    cost = cost or BCRYPT_COST
    if cost not in _DUMMY_HASHES:
        _DUMMY_HASHES[cost] = hash_password("sealedreg dummy password", cost)
    check_password(password, _DUMMY_HASHES[cost])
    return False


# --------------------------------------------------------------------------- the file


def check_mode(path: Path) -> os.stat_result:
    """stat() the users file; UsersFileError if missing or readable by others."""
    return check_private(path, "users file", UsersFileError)


def parse(text: str, source: str = "users file") -> dict[str, str]:
    """name → hash. Malformed lines are skipped and reported by line number."""
    entries: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, hashed = line.partition(":")
        if not sep or not _FILE_NAME.fullmatch(name):
            log.warning("%s line %d: not a `name:hash` entry; ignored", source, number)
            continue
        if not is_bcrypt(hashed):
            log.warning("%s: user %s has a non-bcrypt hash (use htpasswd -B or `sealedreg user add`); "
                        "it cannot log in", source, name)
        entries[name] = hashed
    return entries


def read_users(path: Path) -> dict[str, str]:
    check_mode(path)
    return parse(path.read_text(), str(path))


class _Locked:
    """An exclusive lock on the users file's directory, held while rewriting it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __enter__(self) -> "_Locked":
        self.fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _rewrite(path: Path, lines: list[str]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(line + "\n" for line in lines))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _lines(path: Path) -> list[str]:
    if not path.exists():
        return []
    check_mode(path)
    return path.read_text().splitlines()


def _entry_name(line: str) -> str | None:
    text = line.strip()
    if not text or text.startswith("#") or ":" not in text:
        return None
    return text.partition(":")[0]


def add_user(path: Path, name: str, password: str, replace: bool = False) -> bool:
    """Add `name` (or, with `replace`, set its password). True if it was new.
    The file and its directory are created (0600 / 0700) when missing."""
    validate_user_name(name)
    hashed = hash_password(password)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _Locked(path.parent):
        lines = _lines(path)
        found = [i for i, line in enumerate(lines) if _entry_name(line) == name]
        if found and not replace:
            raise UsersFileError(f"user {name} already exists (use --replace to set a new password)")
        if found:
            lines[found[0]] = f"{name}:{hashed}"
            lines = [line for i, line in enumerate(lines) if i not in found[1:]]
        else:
            lines.append(f"{name}:{hashed}")
        _rewrite(path, lines)
    return not found


def remove_user(path: Path, name: str) -> None:
    if not path.exists():
        raise UsersFileError(f"users file {path} not found")
    with _Locked(path.parent):
        lines = _lines(path)
        kept = [line for line in lines if _entry_name(line) != name]
        if len(kept) == len(lines):
            raise UsersFileError(f"no user {name} in {path}")
        _rewrite(path, kept)


def list_users(path: Path) -> list[str]:
    if not path.exists():
        return []
    return sorted(read_users(path))


@dataclass
class _Snapshot:
    stamp: tuple[int, int, int] | None
    entries: dict[str, str]


class Users:
    """The users file as the server sees it: re-read whenever it changes on
    disk (so `sealedreg user add` works on a running server). If it becomes
    unreadable or too open, nobody can log in until it is fixed (fail closed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._snap = _Snapshot(None, {})
        self._broken = False

    def _current(self) -> dict[str, str]:
        try:
            st = check_mode(self.path)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self._snap.stamp:
                self._snap = _Snapshot(stamp, parse(self.path.read_text(), str(self.path)))
                if self._broken:
                    log.info("users file %s is usable again", self.path)
                self._broken = False
            return self._snap.entries
        except (UsersFileError, OSError) as exc:
            if not self._broken:
                log.error("users file unusable, nobody can log in: %s", exc)
            self._broken = True
            self._snap = _Snapshot(None, {})
            return {}

    def hash_of(self, name: str) -> str | None:
        return self._current().get(name)

    def max_cost(self) -> int | None:
        """The highest bcrypt cost in the file: what a check for an unknown user must cost."""
        costs = [c for c in map(bcrypt_cost, self._current().values()) if c is not None]
        return max(costs) if costs else None

    def exists(self, name: str) -> bool:
        return name in self._current()
