"""The one place that knows the layout of the local data directory.

```
<data>/index.sqlite              registry index (blobs, repositories, manifests, tags)
<data>/uploads/<id>/data         upload session bytes
<data>/uploads/<id>/state.json   the session's repository and the offset its bytes reached
<data>/uploads/<id>/commit.json  a blob acknowledged before it is stored (docs/format.md §2)
<data>/blocks/                   the embedded backend's IPFS blocks (by CID)
<data>/secrets/<id>.secret       rotated org-domain secrets (0600)
<data>/users.htpasswd            the users file, unless the config names another
<data>/token.key                 the token signing key, unless the config names another
<data>/tmp/                      scratch files, removed on start
<data>/gc.lock, <data>/gc.gate   empty files whose flocks keep writers and the GC sweep apart
<data>/quarantine/               blocks `sealedreg fsck --repair` found damaged, moved aside
```

Every path handed out is built from validated, fixed-form components (hex ids,
UUIDs), never from a repository name or tag, so no request can reach outside
the data directory.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

USERS_FILE = "users.htpasswd"
TOKEN_KEY = "token.key"
_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")
_SECRET_ID = re.compile(r"^[0-9a-f]{32}$")


class DataDir:
    """The paths of one data directory (the table above), and nothing else."""

    def __init__(self, root: Path) -> None:
        self.root = r = root.resolve()
        self.index, self.uploads, self.blocks = r / "index.sqlite", r / "uploads", r / "blocks"
        self.secrets, self.tmp = r / "secrets", r / "tmp"  # secrets: the rotated org domains' (0600 each)
        self.users_file, self.token_key = r / USERS_FILE, r / TOKEN_KEY
        self.gc_lock, self.gc_gate = r / "gc.lock", r / "gc.gate"  # flocks between writers and GC (registry.sweeplock)
        self.quarantine = r / "quarantine"

    def prepare(self, clean_scratch: bool = False) -> None:
        """Create the layout. With `clean_scratch` (only at server start, when
        nothing else can be writing) clear scratch left by a crash: it was
        never visible."""
        for d in (self.root, self.uploads, self.blocks, self.tmp):
            d.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        if not clean_scratch:
            return
        for leftover in self.tmp.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    def rotated_secret(self, secret_id: str) -> Path:
        """The secret file of a rotated org domain; `secret_id` must be 32 hex chars."""
        if not _SECRET_ID.fullmatch(secret_id):
            raise ValueError("invalid secret id")
        return self.secrets / f"{secret_id}.secret"

    def session_dir(self, session_id: str) -> Path:
        """The directory of one upload session; `session_id` must be 32 hex chars."""
        if not is_session_id(session_id):
            raise ValueError("invalid upload session id")
        return self.uploads / session_id

    def session_data(self, session_id: str) -> Path:
        return self.session_dir(session_id) / "data"

    def session_state(self, session_id: str) -> Path:
        return self.session_dir(session_id) / "state.json"

    def session_commit(self, session_id: str) -> Path:
        """The write-ahead record of a blob acknowledged before it is stored."""
        return self.session_dir(session_id) / "commit.json"


def is_session_id(text: str) -> bool:
    return bool(_SESSION_ID.fullmatch(text))
