"""Run a real Kubo (the reference IPFS node) for tests: a loopback-only daemon,
and offline `ipfs add --only-hash` to get the CIDs Kubo computes.

Kubo is built from the Go module proxy by `scripts/build-kubo.sh` (pinned
version there) into ~/.cache/sealedreg-tools; `kubo_binary()` runs it.

A repo (IPFS_PATH) always lives in the test's tmp dir and is made with

    ipfs init --empty-repo --profile=test,unixfs-v1-2025

(`test`: loopback addresses, no bootstrap peers, no MDNS, no AutoConf/AutoTLS,
no delegated routers; `unixfs-v1-2025`: the docs/format.md §3 import parameters)
and then pinned with one `ipfs config --json <key> <value>` per entry of
IMPORT_CONFIG (the §5 parameters are forced even if the profile changes or is
missing).  A daemon additionally gets the settings in `_daemon_config()`:
API/Gateway/Swarm on free 127.0.0.1 TCP ports, every other transport off
(QUIC, WebTransport, WebRTC-direct, WebSocket, relay), no relay client or
service, no AutoNAT service, no NAT port mapping, no HTTP retrieval, and
`Routing.Type` "none" by default (nothing is looked up or announced
anywhere; nodes exchange blocks over bitswap once `swarm connect`ed) —
`routing="dht"` gives a DHT that only ever sees peers connected on loopback.

Kubo's import limits (v0.43.1): the fixed-size chunker takes any
`size-N` with 1 <= N <= 2 MiB - 256 (boxo `ChunkSizeLimit`); max links per
file node must be >= 2 — with 1 the balanced builder never terminates (each new
root holds just the old root), so `kubo_add_only_hash` refuses it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx

from tests.helpers.server import REPO_ROOT, free_port, stop

BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-kubo.sh"
BUILD_TIMEOUT = 1800.0   # a fresh machine downloads ~300 Go modules first
CLI_TIMEOUT = 120.0
READY_TIMEOUT = 60.0

# The import profile docs/format.md §3 pins (Kubo >= v0.40).
IMPORT_PROFILE = "unixfs-v1-2025"

# docs/format.md §3 as Kubo `Import.*` config, forced on every repo.  The last four
# only matter for directories, and are what the profile sets in v0.43.1.
IMPORT_CONFIG: dict[str, object] = {
    "CidVersion": 1,
    "HashFunction": "sha2-256",
    "UnixFSRawLeaves": True,
    "UnixFSChunker": "size-1048576",
    "UnixFSDAGLayout": "balanced",
    "UnixFSFileMaxLinks": 1024,
    "UnixFSPBNodeFieldOrder": "links-first",   # canonical dag-pb: Links before Data
    "UnixFSDirectoryMaxLinks": 0,
    "UnixFSHAMTDirectoryMaxFanout": 256,
    "UnixFSHAMTDirectorySizeThreshold": "256KiB",
    "UnixFSHAMTDirectorySizeEstimation": "block",
}

# Kubo's fixed-size chunker limit (boxo chunker.ChunkSizeLimit = 2 MiB - 256).
MAX_CHUNK_SIZE = 2 * 1024 * 1024 - 256
MIN_MAX_LINKS = 2


class KuboError(RuntimeError):
    pass


# --------------------------------------------------------------------------- build

_build_lock = threading.Lock()
_built: Path | None = None
_build_error: str | None = None


def kubo_binary(timeout: float = BUILD_TIMEOUT) -> Path:
    """Path of the pinned `ipfs` binary, built by scripts/build-kubo.sh on first use.

    The result (or the failure) is cached for the session: a failed build is
    not retried by every test.
    """
    global _built, _build_error
    with _build_lock:
        if _built is not None:
            return _built
        if _build_error is not None:
            raise KuboError(_build_error)
        try:
            proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True,
                                  timeout=timeout, cwd=REPO_ROOT)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            _build_error = f"{BUILD_SCRIPT} did not finish in {timeout:.0f}s:\n{err[-6000:]}"
            raise KuboError(_build_error) from e
        lines = [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            _build_error = (f"{BUILD_SCRIPT} failed (exit {proc.returncode}), cannot build Kubo:\n"
                            f"{proc.stderr[-6000:]}")
            raise KuboError(_build_error)
        path = Path(lines[-1])
        if not (path.is_file() and os.access(path, os.X_OK)):
            _build_error = f"{BUILD_SCRIPT} reported {path}, which is not an executable file"
            raise KuboError(_build_error)
        _built = path
        return path


# --------------------------------------------------------------------------- CLI


def kubo_env(ipfs_path: Path) -> dict[str, str]:
    """Environment for the `ipfs` CLI/daemon on the repo at `ipfs_path`.

    Inherited IPFS_*/LIBP2P_* variables are dropped so nothing from the
    caller's shell (another repo, an API address, a swarm key) leaks in.
    """
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("IPFS_", "LIBP2P_", "GOLOG_"))}
    env.update({
        "IPFS_PATH": str(ipfs_path),
        "IPFS_TELEMETRY": "off",   # off by default in v0.43.1 anyway (no endpoint)
        "DO_NOT_TRACK": "1",
    })
    return env


def _run(ipfs_path: Path, args: list[str], *, input: bytes | None = None,
         timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[bytes]:
    argv = [str(kubo_binary()), *args]
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, env=kubo_env(ipfs_path),
                              cwd=ipfs_path.parent, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise KuboError(f"`ipfs {' '.join(args)}` did not finish in {timeout:.0f}s") from e
    if proc.returncode != 0:
        raise KuboError(f"`ipfs {' '.join(args)}` (IPFS_PATH={ipfs_path}) failed with exit "
                        f"{proc.returncode}:\n{proc.stderr.decode(errors='replace')[-4000:]}")
    return proc


def set_config(ipfs_path: Path, key: str, value: object) -> None:
    """`ipfs config --json <key> <json value>` (Kubo checks the key and type)."""
    _run(ipfs_path, ["config", "--json", key, json.dumps(value)])


def read_config(ipfs_path: Path) -> dict:
    return json.loads(_run(ipfs_path, ["config", "show"]).stdout)


_profiles: set[str] | None = None


def available_profiles() -> set[str]:
    """Names of the config profiles this Kubo knows (from `ipfs config profile --help`)."""
    global _profiles
    if _profiles is None:
        proc = subprocess.run([str(kubo_binary()), "config", "profile", "--help"],
                              capture_output=True, text=True, timeout=CLI_TIMEOUT,
                              env=kubo_env(Path("/nonexistent-ipfs-repo")))
        _profiles = set(re.findall(r"^\s+'([a-z0-9-]+)':", proc.stdout, re.M))
    return _profiles


def init_repo(ipfs_path: Path) -> str:
    """`ipfs init` a loopback-only test repo with the §5 import config; return the peer id."""
    ipfs_path.mkdir(parents=True, exist_ok=True)
    profiles = ["test"]
    if IMPORT_PROFILE in available_profiles():
        profiles.append(IMPORT_PROFILE)
    _run(ipfs_path, ["init", "--empty-repo", f"--profile={','.join(profiles)}"])
    for key, value in IMPORT_CONFIG.items():
        set_config(ipfs_path, f"Import.{key}", value)
    cfg = json.loads((ipfs_path / "config").read_text())
    return cfg["Identity"]["PeerID"]


def _ensure_repo(ipfs_path: Path) -> None:
    if not (ipfs_path / "config").is_file():
        init_repo(ipfs_path)


# --------------------------------------------------------------------------- daemon


@dataclass
class KuboNode:
    api_url: str          # http://127.0.0.1:<port>  (RPC API: POST {api_url}/api/v0/...)
    gateway_url: str      # http://127.0.0.1:<port>  (GET {gateway_url}/ipfs/<cid>)
    swarm_addr: str       # /ip4/127.0.0.1/tcp/<port>/p2p/<peer id>
    peer_id: str
    ipfs_path: Path
    proc: subprocess.Popen
    log: Path


def _daemon_config(api_port: int, gateway_port: int, swarm_port: int, routing: str) -> dict[str, object]:
    return {
        "Addresses.API": f"/ip4/127.0.0.1/tcp/{api_port}",
        "Addresses.Gateway": f"/ip4/127.0.0.1/tcp/{gateway_port}",
        "Addresses.Swarm": [f"/ip4/127.0.0.1/tcp/{swarm_port}"],
        "Addresses.Announce": [],
        "Addresses.AppendAnnounce": [],
        "Bootstrap": [],
        "Peering.Peers": [],
        "Discovery.MDNS.Enabled": False,
        "Routing.Type": routing,
        "Routing.DelegatedRouters": [],
        "Ipns.DelegatedPublishers": [],
        "AutoConf.Enabled": False,
        "AutoTLS.Enabled": False,
        "AutoNAT.ServiceMode": "disabled",
        "HTTPRetrieval.Enabled": False,
        "Swarm.DisableNatPortMap": True,
        "Swarm.RelayClient.Enabled": False,
        "Swarm.RelayService.Enabled": False,
        "Swarm.Transports.Network.TCP": True,
        "Swarm.Transports.Network.QUIC": False,
        "Swarm.Transports.Network.WebTransport": False,
        "Swarm.Transports.Network.WebRTCDirect": False,
        "Swarm.Transports.Network.Websocket": False,
        "Swarm.Transports.Network.Relay": False,
    }


def wait_kubo_ready(api_url: str, gateway_url: str, proc: subprocess.Popen, log: Path,
                    timeout: float = READY_TIMEOUT) -> dict:
    """Poll until the RPC API answers `POST /api/v0/id` and the gateway answers; return the id."""
    deadline = time.monotonic() + timeout
    ident: dict | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise KuboError(f"ipfs daemon exited with {proc.returncode}:\n"
                            f"{log.read_text(errors='replace')[-4000:]}")
        try:
            if ident is None:
                r = httpx.post(f"{api_url}/api/v0/id", timeout=2.0)
                if r.status_code == 200:
                    ident = r.json()
            if ident is not None:
                r = httpx.get(f"{gateway_url}/ipfs/bafkqaaa", timeout=2.0)  # identity CID, empty
                if r.status_code < 500:
                    return ident
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # poll interval of the readiness probe, not a fixed wait
    raise KuboError(f"ipfs daemon at {api_url} not ready after {timeout:.0f}s:\n"
                    f"{log.read_text(errors='replace')[-4000:]}")


@contextlib.contextmanager
def run_kubo(tmpdir: Path, name: str = "a", *, routing: str = "none") -> Iterator[KuboNode]:
    """A fresh Kubo daemon with its repo in `tmpdir/kubo-<name>`, loopback only, always stopped.

    `routing`: Kubo's Routing.Type — "none" (default, no lookups at all) or
    "dht" (a DHT that can only see peers connected over loopback).  With
    "none", `name publish` succeeds but `name resolve` of that very name fails
    ("could not resolve name"); IPNS tests want "dht".
    """
    tmpdir = Path(tmpdir)
    ipfs_path = tmpdir / f"kubo-{name}"
    peer_id = init_repo(ipfs_path)
    api_port, gateway_port, swarm_port = free_port(), free_port(), free_port()
    while len({api_port, gateway_port, swarm_port}) < 3:
        gateway_port, swarm_port = free_port(), free_port()
    for key, value in _daemon_config(api_port, gateway_port, swarm_port, routing).items():
        set_config(ipfs_path, key, value)

    log = tmpdir / f"kubo-{name}.log"
    node = KuboNode(api_url=f"http://127.0.0.1:{api_port}", gateway_url=f"http://127.0.0.1:{gateway_port}",
                    swarm_addr=f"/ip4/127.0.0.1/tcp/{swarm_port}/p2p/{peer_id}",
                    peer_id=peer_id, ipfs_path=ipfs_path, proc=None, log=log)  # type: ignore[arg-type]
    try:
        start_daemon(node)
        yield node
    finally:
        if node.proc is not None:
            stop(node.proc)   # SIGTERM, then kill after 15 s


def start_daemon(node: KuboNode) -> None:
    """(Re)start the daemon of `node` on its repo and ports; wait until it answers.

    Fault tests stop a node's daemon and bring it back with this."""
    argv = [str(kubo_binary()), "daemon", "--migrate=false", "--enable-gc=false"]
    with open(node.log, "ab") as logf:
        node.proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                     env=kubo_env(node.ipfs_path), cwd=node.ipfs_path.parent)
    ident = wait_kubo_ready(node.api_url, node.gateway_url, node.proc, node.log)
    if ident.get("ID") != node.peer_id:
        raise KuboError(f"daemon reports peer id {ident.get('ID')}, repo has {node.peer_id}")


def ipfs_cli(node: KuboNode | Path, *args: str, input: bytes | None = None,
             timeout: float = CLI_TIMEOUT) -> str:
    """Run `ipfs <args>` against a node's repo (through its daemon's API when it runs);
    return stdout.  Raises KuboError on a non-zero exit."""
    ipfs_path = node.ipfs_path if isinstance(node, KuboNode) else Path(node)
    return _run(ipfs_path, list(args), input=input, timeout=timeout).stdout.decode()


# --------------------------------------------------------------------------- CIDs


def kubo_add_only_hash(data: bytes | Path, *, chunk_size: int = 1048576, max_links: int = 1024,
                       tmpdir: Path) -> str:
    """The root CID Kubo computes for one file with the §5 parameters (offline, no daemon).

    Equivalent to `ipfs add --only-hash -Q --cid-version=1 --hash=sha2-256
    --raw-leaves --chunker=size-<chunk_size> --max-file-links=<max_links>
    --trickle=false --inline=false` on a repo in `tmpdir/kubo-hash` (made on
    first use).  `--max-file-links` is the per-add form of
    Import.UnixFSFileMaxLinks.
    """
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"Kubo's fixed-size chunker takes 1..{MAX_CHUNK_SIZE} bytes, not {chunk_size}")
    if max_links < MIN_MAX_LINKS:
        raise ValueError(f"max_links must be >= {MIN_MAX_LINKS} (Kubo loops forever with 1)")
    ipfs_path = Path(tmpdir) / "kubo-hash"
    _ensure_repo(ipfs_path)
    args = ["add", "--only-hash", "-Q", "--pin=false", "--cid-version=1", "--hash=sha2-256",
            "--raw-leaves", f"--chunker=size-{chunk_size}", f"--max-file-links={max_links}",
            "--trickle=false", "--inline=false"]
    if isinstance(data, Path):
        proc = _run(ipfs_path, [*args, "--", str(data)])
    else:
        proc = _run(ipfs_path, args, input=bytes(data))   # a single file read from stdin
    cid = proc.stdout.decode().strip()
    if not cid or "\n" in cid:
        raise KuboError(f"unexpected `ipfs add` output: {proc.stdout!r}")
    return cid
