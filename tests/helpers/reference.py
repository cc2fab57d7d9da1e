"""Run Debian's Go reference registry (`docker-registry`, distribution v2.8)
on a free loopback port, for comparing sealedreg against a known registry
(conformance tooling validation, benchmarks).

    with run_reference_registry(tmp_path) as ref:
        httpx.get(f"{ref.url}/v2/")

Storage is the filesystem driver in `tmpdir/reference-data`, deletes enabled,
no auth.  The server is always stopped when the block ends.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

from tests.helpers.server import RunningServer, free_port, run_server

REFERENCE_BINARY_ENV = "SEALEDREG_REFERENCE_REGISTRY"
DEFAULT_BINARY = "/usr/bin/docker-registry"


def reference_binary() -> str | None:
    """Path of the reference registry binary, or None when not installed.

    Debian/Ubuntu: `apt-get install docker-registry`."""
    cand = os.environ.get(REFERENCE_BINARY_ENV) or DEFAULT_BINARY
    if os.path.isfile(cand) and os.access(cand, os.X_OK):
        return cand
    return shutil.which("docker-registry") or shutil.which("registry")


def reference_config(root: Path, port: int, host: str = "127.0.0.1") -> str:
    # Quoted scalars keep the YAML valid whatever the path contains.
    return (
        "version: 0.1\n"
        "log:\n"
        "  level: warn\n"
        "  accesslog:\n"
        "    disabled: true\n"
        "storage:\n"
        "  filesystem:\n"
        f"    rootdirectory: \"{root}\"\n"
        "  delete:\n"
        "    enabled: true\n"
        "  maintenance:\n"
        "    uploadpurging:\n"
        "      enabled: false\n"
        "http:\n"
        f"  addr: \"{host}:{port}\"\n"
        "  headers:\n"
        "    X-Content-Type-Options: [nosniff]\n"
    )


@contextlib.contextmanager
def run_reference_registry(tmpdir: Path, port: int | None = None,
                           binary: str | None = None) -> Iterator[RunningServer]:
    """Run the reference registry with its storage under `tmpdir`.

    Yields the same RunningServer as `run_registry` (.url, .address, .host,
    .port, .log).  Raises RuntimeError when the binary is missing."""
    binary = binary or reference_binary()
    if not binary:
        raise RuntimeError("reference registry not installed: apt-get install docker-registry "
                           f"(or set {REFERENCE_BINARY_ENV})")
    tmpdir = Path(tmpdir)
    tmpdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    root = tmpdir / "reference-data"
    root.mkdir(parents=True, exist_ok=True)
    config = tmpdir / f"reference-config-{port}.yml"
    config.write_text(reference_config(root, port))
    # Keep the registry from picking up OTEL/REGISTRY_* settings from the caller.
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    argv = [binary, "serve", str(config)]
    with run_server(argv, "/v2/", tmpdir / f"reference-{port}.log", port, env=env,
                    inherit_env=False) as srv:
        yield srv
