"""A real authoritative DNS server for tests: Knot DNS (knotd) on a free
loopback port, accepting RFC 2136 updates signed with a fresh TSIG key,
always stopped.

Everything lives in the test's temp dir (config, zone files, journal, timer
database, control socket); knotd runs in the foreground as the current user
(no `user:` setting: as root it stays root, which is fine for a throwaway
server on 127.0.0.1). Readiness is probed: a SOA query over TCP for every
zone, never a sleep.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from sealedreg.publish.dnsupdate import TsigKey
from tests.helpers.server import free_port, stop

ALGORITHM = "hmac-sha256"


@dataclass
class KnotServer:
    address: str
    """"127.0.0.1:PORT"."""
    key_file: Path
    """The update key in BIND format (`tsig-keygen`'s), mode 0600."""
    key: TsigKey
    zones: list[str]
    """Zone names as given (no trailing dot)."""
    workdir: Path
    log: Path


def _zone_file(zone: str) -> str:
    """A minimal zone: SOA, NS, and an address for the NS."""
    return "\n".join([
        f"$ORIGIN {zone}.",
        "$TTL 60",
        "@ SOA ns1 hostmaster 1 3600 600 86400 60",
        "@ NS ns1",
        "ns1 A 127.0.0.1",
        "",
    ])


def _config(workdir: Path, port: int, key: TsigKey, zones: list[str]) -> str:
    """knot.conf: loopback only, state in `workdir`, updates allowed only with `key`.

    `zonefile-sync: -1` keeps knotd from writing updates back into the zone
    files; with `journal-content: changes` the updates live in the journal
    (the storage database), which is what serves them."""
    return "\n".join([
        "server:",
        f'    rundir: "{workdir / "run"}"',
        f"    listen: 127.0.0.1@{port}",
        "log:",
        "  - target: stderr",
        "    any: info",
        "database:",
        f'    storage: "{workdir / "db"}"',
        "key:",
        f"  - id: {key.name}",
        f"    algorithm: {key.algorithm}",
        f"    secret: {base64.b64encode(key.secret).decode()}",
        "acl:",
        "  - id: tsig-update",
        f"    key: {key.name}",
        "    action: update",
        "template:",
        "  - id: default",
        f'    storage: "{workdir / "zones"}"',
        '    file: "%s.zone"',
        "    zonefile-sync: -1",
        "    zonefile-load: whole",
        "    journal-content: changes",
        "    acl: tsig-update",
        "zone:",
        *[f"  - domain: {zone}." for zone in zones],
        "",
    ])


def _answers(port: int, zones: list[str]) -> bool:
    for zone in zones:
        query = dns.message.make_query(f"{zone}.", dns.rdatatype.SOA)
        query.flags &= ~dns.flags.RD
        try:
            response = dns.query.tcp(query, "127.0.0.1", port=port, timeout=0.5)
        except (OSError, EOFError, dns.exception.DNSException):
            return False
        if response.rcode() != dns.rcode.NOERROR or not response.answer:
            return False  # listening, zone not loaded yet
    return True


@contextlib.contextmanager
def run_knot(tmpdir: Path, zones: list[str], key_name: str = "sealedreg-test") -> Iterator[KnotServer]:
    """Yield a running knotd serving `zones` (e.g. ["acme.test"]) on 127.0.0.1:PORT."""
    exe = shutil.which("knotd") or "/usr/sbin/knotd"
    if not Path(exe).exists():
        raise AssertionError("knotd is not installed (apt-get install knot)")
    port = free_port()
    workdir = tmpdir / f"knot-{port}"
    for sub in ("run", "db", "zones"):
        (workdir / sub).mkdir(parents=True, mode=0o700)
    key = TsigKey(key_name, ALGORITHM, os.urandom(32))
    for zone in zones:
        (workdir / "zones" / f"{zone}.zone").write_text(_zone_file(zone))
    conf = workdir / "knot.conf"
    conf.write_text(_config(workdir, port, key, zones))
    conf.chmod(0o600)  # it holds the secret
    key_file = workdir / f"{key_name}.key"
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'key "{key_name}" {{\n\talgorithm {ALGORITHM};\n'
                f'\tsecret "{base64.b64encode(key.secret).decode()}";\n}};\n')
    log = workdir / "knotd.log"
    with open(log, "ab") as logf:
        proc = subprocess.Popen([exe, "-c", str(conf)], stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while not _answers(port, zones):  # readiness: every zone answers its SOA
            if proc.poll() is not None:
                raise AssertionError(f"knotd exited with {proc.returncode}: {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"knotd not answering: {log.read_text()[-3000:]}")
            time.sleep(0.05)  # poll interval of the readiness probe, not a fixed wait
        yield KnotServer(f"127.0.0.1:{port}", key_file, key, list(zones), workdir, log)
    finally:
        stop(proc)
