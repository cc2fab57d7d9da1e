"""A real DNS server for tests: dnsmasq on a free loopback port, serving the
TXT records a test gives it, always stopped."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import Iterator

import dns.message
import dns.query
import dns.rdatatype

from tests.helpers.server import free_port, stop


@contextlib.contextmanager
def run_dnsmasq(tmpdir: Path, txt: dict[str, list[str]]) -> Iterator[str]:
    """Yield "127.0.0.1:PORT" of a dnsmasq that answers `txt` (name → strings)."""
    exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(exe).exists():
        raise AssertionError("dnsmasq is not installed (apt-get install dnsmasq-base)")
    port = free_port()
    conf = tmpdir / f"dnsmasq-{port}.conf"
    lines = ["no-resolv", "no-hosts", "bind-interfaces", "listen-address=127.0.0.1", f"port={port}",
             "no-dhcp-interface=lo", "log-facility=-", f"pid-file={tmpdir / f'dnsmasq-{port}.pid'}"]
    for name, values in txt.items():
        for value in values:
            lines.append(f'txt-record={name},"{value}"')
    conf.write_text("\n".join(lines) + "\n")
    log = tmpdir / f"dnsmasq-{port}.log"
    with open(log, "ab") as logf:
        proc = subprocess.Popen([exe, "--keep-in-foreground", f"--conf-file={conf}", "--user=root"],
                                stdout=logf, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:  # readiness: it answers a query
            if proc.poll() is not None:
                raise AssertionError(f"dnsmasq exited: {log.read_text()[-2000:]}")
            try:
                dns.query.udp(dns.message.make_query("probe.invalid", dns.rdatatype.TXT), "127.0.0.1",
                              port=port, timeout=0.3)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise AssertionError(f"dnsmasq not answering: {log.read_text()[-2000:]}") from None
        yield f"127.0.0.1:{port}"
    finally:
        stop(proc)
