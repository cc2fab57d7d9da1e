"""Federated pull: registry B pulling acme.test's image through DNS and IPFS,
against skopeo pulling the same image straight from acme.test's registry A,
measured in the same run.

    python -m benchmarks.federation            # 200 MB image, 3 rounds
    python -m benchmarks.federation --quick    # 20 MB, 2 rounds

Set-up (all on loopback, started here, stopped at the end): a knot DNS
server taking RFC 2136 updates, Kubo A (A's store) and Kubo B (B's store)
with no bootstrap peers — B reaches A only through the `ipfsnode=` hint —,
registry A owning acme.test, registry B federating it, and a second B on
the embedded store that fetches every block from A's trustless gateway. Every round pushes a
freshly generated image to A and publishes; once B resolves the new tree,
the two pulls run, each in a fresh skopeo sandbox into a fresh directory,
alternating which goes first. Prints medians and the ratio B/A (lower is
better; the issue's target is ≤ 1.5×).

Then the dedupe line: a second image made of the last round's layers plus
one new layer is pushed and published; B pulls it, and Kubo B's bitswap
counter says how many bytes came over the network, against the bytes of
what is new (its new layer's ciphertext, its config, its manifest).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from sealedreg.crypto.convergent import ciphertext_size
from tests.helpers.clients import ClientSandbox
from tests.helpers.knot import run_knot
from tests.helpers.kubo import run_kubo
from tests.helpers.ocilayout import write_image
from tests.helpers.server import free_port
from tests.integration.test_federation import cli, org_config, received, serve

MB = 1000 * 1000


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def wait_until(check, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds so far of each of `pids`, and of this process's
    finished children (the skopeo runs) as "skopeo"."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pid in pids.items():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = (int(fields[11]) + int(fields[12])) / tick
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["skopeo"] = children.ru_utime + children.ru_stime
    return out


def bitswap_floor(ka, kb, size: int) -> float:
    """Seconds for Kubo B's gateway to read a fresh file of `size` bytes that only
    Kubo A has: what moving the bytes over bitswap costs with no sealedreg at all."""
    data = os.urandom(size)
    cid = httpx.post(f"{ka.api_url}/api/v0/add", params={"cid-version": 1, "raw-leaves": "true",
                                                          "chunker": "size-1048576", "pin": "false"},
                     files={"file": data}, timeout=600).json()["Hash"]
    httpx.post(f"{kb.api_url}/api/v0/swarm/connect", params={"arg": ka.swarm_addr}, timeout=60)

    def read() -> None:
        with httpx.stream("GET", f"{kb.gateway_url}/ipfs/{cid}", timeout=600) as r:
            assert sum(len(c) for c in r.iter_bytes(1 << 20)) == size

    return timed(read)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a 20 MB image, 2 rounds")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--size-mb", type=int, default=None)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    size = (args.size_mb or (20 if args.quick else 200)) * MB
    rounds = args.rounds or (2 if args.quick else 3)
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sealedreg-bench-fed-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        run(work, size, rounds)
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(work: Path, size: int, rounds: int) -> None:
    with contextlib.ExitStack() as stack:
        knot = stack.enter_context(run_knot(work, ["acme.test", "partner.test"]))
        ka = stack.enter_context(run_kubo(work, "a"))
        kb = stack.enter_context(run_kubo(work, "b"))
        ra = org_config(work, "acme.test", knot, ka, free_port(), secret=False)  # public: global domain
        rb = org_config(work, "partner.test", knot, kb, free_port())
        re_ = org_config(work, "partner.test", knot, None, free_port())  # embedded: blocks from A's gateway
        a = stack.enter_context(serve(ra))
        b = stack.enter_context(serve(rb))
        e = stack.enter_context(serve(re_))
        direct, federated, gateway, floor = [], [], [], []
        cpu: dict[str, list[dict[str, float]]] = {"direct": [], "federated": [], "gateway": []}
        pids = {"A": a.proc.pid, "B": b.proc.pid, "embedded B": e.proc.pid, "Kubo A": ka.proc.pid,
                "Kubo B": kb.proc.pid}
        last = None
        for i in range(rounds):
            img = write_image(work / f"img{i}", layers=[size], seed=1000 + i, compresslevel=0, tag="1")
            repo = f"acme.test/big{i}"
            with ClientSandbox(work / f"sb-push{i}", a.address) as sb:
                sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:1", f"docker://{a.address}/{repo}:1",
                          debug=False)
            cli("publish", "acme.test", *ra.args())
            for srv in (b, e):
                wait_until(lambda: httpx.get(f"{srv.url}/v2/{repo}/tags/list", timeout=60).status_code == 200,
                           "B to resolve the new tree")

            def pull(srv, label: str) -> float:
                with ClientSandbox(work / f"sb-{label}{i}", srv.address) as sb:
                    dest = work / f"out-{label}{i}"
                    before = cpu_seconds(pids)
                    took = timed(lambda: sb.skopeo("copy", "--src-tls-verify=false",
                                                   f"docker://{srv.address}/{repo}:1", f"dir:{dest}", debug=False))
                    after = cpu_seconds(pids)
                    cpu[label].append({k: after[k] - before[k] for k in after})
                    return took

            order = [("direct", a), ("federated", b), ("gateway", e)]
            order = order if i % 2 == 0 else order[::-1]
            times = {label: pull(srv, label) for label, srv in order}
            direct.append(times["direct"])
            federated.append(times["federated"])
            gateway.append(times["gateway"])
            floor.append(bitswap_floor(ka, kb, size))
            print(f"round {i + 1}: direct {times['direct']:.2f}s, federated {times['federated']:.2f}s, "
                  f"embedded via gateway {times['gateway']:.2f}s; Kubo alone over bitswap {floor[-1]:.2f}s",
                  flush=True)
            last = img

        assert last is not None
        d, f = statistics.median(direct), statistics.median(federated)
        print(f"\n{size // MB} MB image, {rounds} rounds (medians)")
        print(f"  pull straight from A (skopeo):        {d:.2f}s")
        print(f"  pull from B, federated over bitswap:  {f:.2f}s   ratio {f / d:.2f}x (target <= 1.5x)")
        print(f"  for scale, Kubo alone (B's gateway reading a fresh {size // MB} MB file that only A has): "
              f"{statistics.median(floor):.2f}s")
        g = statistics.median(gateway)
        print(f"  pull from an embedded B, blocks from A's gateway: {g:.2f}s   ratio {g / d:.2f}x")
        print(f"\nCPU seconds per pull (medians; {os.cpu_count()} CPUs on this machine):")
        for label, runs in cpu.items():
            parts = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            print(f"  {label:9} total {sum(parts.values()):.2f}: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in parts.items() if v >= 0.01))

        # dedupe: the last image's layer plus a new one
        new_layer = 5 * MB
        extra = write_image(work / "extra", layers=[size, new_layer], seed=1000 + rounds - 1, compresslevel=0,
                            tag="1")
        assert extra.layer_digests[0] == last.layer_digests[0]
        with ClientSandbox(work / "sb-push-extra", a.address) as sb:
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{extra.path}:1",
                      f"docker://{a.address}/acme.test/extra:1", debug=False)
        cli("publish", "acme.test", *ra.args())
        wait_until(lambda: httpx.get(f"{b.url}/v2/acme.test/extra/tags/list", timeout=60).status_code == 200,
                   "B to resolve the tree with the second image")
        before = received(kb)
        with ClientSandbox(work / "sb-extra", b.address) as sb:
            sb.skopeo("copy", "--src-tls-verify=false", f"docker://{b.address}/acme.test/extra:1",
                      f"dir:{work / 'out-extra'}", debug=False)
        fetched = received(kb) - before
        new_dir = work / "out-extra"
        manifest = json.loads((new_dir / "manifest.json").read_text())
        new_plain = (manifest["layers"][1]["size"] + manifest["config"]["size"]
                     + len((new_dir / "manifest.json").read_bytes()))
        new_cipher = ciphertext_size(manifest["layers"][1]["size"]) + ciphertext_size(manifest["config"]["size"])
        print(f"\nsecond image sharing the {size // MB} MB layer, one new {new_layer // MB} MB layer:")
        print(f"  fetched over bitswap by B: {fetched / MB:.2f} MB; new content {new_plain / MB:.2f} MB "
              f"({new_cipher / MB:.2f} MB as ciphertext): ratio {fetched / new_plain:.3f} (target <= 1.05)")


if __name__ == "__main__":
    main()
