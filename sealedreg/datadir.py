"""The one place that knows the layout of the local data directory.

```
<data>/index.sqlite          registry index (blobs, repositories, manifests, tags)
<data>/uploads/<id>/data     upload session bytes
<data>/uploads/<id>/state.json
<data>/blocks/               the embedded backend's IPFS blocks (by CID)
<data>/secrets/<id>.secret   rotated org-domain secrets (0600)
<data>/tmp/                  scratch files, removed on start
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

_SESSION_ID = re.compile(r"^[0-9a-f]{32}$")


class DataDir:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

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

    @property
    def index(self) -> Path:
        return self.root / "index.sqlite"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def blocks(self) -> Path:
        return self.root / "blocks"

    @property
    def secrets(self) -> Path:
        """Secrets the registry makes itself (rotated org domains), mode 0600 each."""
        return self.root / "secrets"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def session_dir(self, session_id: str) -> Path:
        """The directory of one upload session; `session_id` must be 32 hex chars."""
        if not is_session_id(session_id):
            raise ValueError("invalid upload session id")
        return self.uploads / session_id


def is_session_id(text: str) -> bool:
    return bool(_SESSION_ID.match(text))
