"""A registry on either storage backend, for tests that must pass on both."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Sequence

from tests.helpers.kubo import KuboNode, run_kubo
from tests.helpers.server import RunningServer, run_registry

BACKENDS = ("embedded", "kubo")


@contextlib.contextmanager
def registry_on(backend: str, tmp_path: Path, extra_args: Sequence[str] = (), env: dict[str, str] | None = None
                ) -> Iterator[tuple[RunningServer, KuboNode | None]]:
    """`sealedreg serve` with its data in `tmp_path/data`; for "kubo", on a fresh
    loopback Kubo daemon (both always stopped)."""
    if backend == "embedded":
        with run_registry(tmp_path / "data", extra_args, env=env) as srv:
            yield srv, None
        return
    with run_kubo(tmp_path) as node:
        with run_registry(tmp_path / "data", ["--ipfs-api", node.api_url, *extra_args], env=env) as srv:
            yield srv, node
