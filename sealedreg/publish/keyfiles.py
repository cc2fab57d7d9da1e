"""An organisation's key files on disk (docs/format.md §8): `<name>.key`
(mode 0600, never overwritten without `force`) and `<name>.pub`.

The formats are `sealedreg.crypto.keys`; this module only reads and writes
them, with the private half checked like every other secret file.
"""

from __future__ import annotations

import os
from pathlib import Path

from sealedreg.crypto.keys import KeyError_, OrgKeys, PublicKeys, check_key_name, parse_keys, parse_public
from sealedreg.fileio import write_atomic
from sealedreg.protected_files import check_private


def write_keys(keys: OrgKeys, directory: Path, force: bool = False) -> tuple[Path, Path]:
    """Write `<name>.key` (0600, never overwritten unless `force`) and `<name>.pub`."""
    check_key_name(keys.name)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    private, public = directory / f"{keys.name}.key", directory / f"{keys.name}.pub"
    if not force and (private.exists() or public.exists()):
        raise KeyError_(f"{private} already exists; use --force to replace it")
    write_atomic(private, keys.to_json(), directory)  # mkstemp: a new file, 0600, never a link
    write_atomic(public, keys.public.to_json(), directory)
    os.chmod(public, 0o644)
    return private, public


def load_keys(path: Path) -> OrgKeys:
    """The private key file at `path` (SecretFileError if others may read it)."""
    check_private(path, "key file")
    return parse_keys(path.read_bytes(), str(path), path.stem)


def load_public(path: Path) -> PublicKeys:
    try:
        raw = path.read_bytes()
    except OSError:
        raise KeyError_(f"{path} is not a readable sealedreg public key file") from None
    return parse_public(raw, str(path), path.stem)
