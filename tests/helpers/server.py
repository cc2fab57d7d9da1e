"""Start real servers for integration tests on free loopback ports, always stopped.

Readiness is probed (never slept for): a server is ready when its probe URL
answers.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RunningServer:
    host: str
    port: int
    proc: subprocess.Popen
    log: Path

    @property
    def address(self) -> str:
        """host:port, the form OCI clients take."""
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            r = httpx.get(url, timeout=1.0)
            if r.status_code < 500:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # poll interval of the readiness probe, not a fixed wait
    raise RuntimeError(f"server at {url} not ready after {timeout}s:\n{log.read_text(errors='replace')[-4000:]}")


def stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def run_server(argv: Sequence[str], probe_path: str, log: Path, port: int,
               env: dict[str, str] | None = None, host: str = "127.0.0.1",
               inherit_env: bool = True) -> Iterator[RunningServer]:
    """Start `argv`, wait for `probe_path` to answer, stop it at the end.

    `env` is added to the caller's environment, or with `inherit_env=False`
    is the whole environment.
    """
    full_env = {**os.environ, **(env or {})} if inherit_env else dict(env or {})
    with open(log, "ab") as logf:
        proc = subprocess.Popen(list(argv), stdout=logf, stderr=subprocess.STDOUT, env=full_env, cwd=REPO_ROOT)
    try:
        wait_ready(f"http://{host}:{port}{probe_path}", proc, log)
        yield RunningServer(host, port, proc, log)
    finally:
        stop(proc)


@contextlib.contextmanager
def run_registry(data_dir: Path, extra_args: Sequence[str] = (), port: int | None = None,
                 env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """Run `sealedreg serve` on a free loopback port with its data in `data_dir`."""
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "sealedreg", "serve", "--listen", f"127.0.0.1:{port}",
            "--data", str(data_dir), *extra_args]
    with run_server(argv, "/v2/", data_dir.parent / f"sealedreg-{port}.log", port, env=env) as srv:
        yield srv
