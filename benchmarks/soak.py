"""A soak: mixed push / pull / delete / gc against one `sealedreg serve` on
loopback, for a bounded time; reports errors (must be 0), p50/p99 latency
per operation, and the server's RSS over time (must not grow without bound).

    python -m benchmarks.soak                  # 10 minutes, 8 clients, layers up to 4 MB
    python -m benchmarks.soak --quick          # 20 s, 4 clients, small layers (run by the test suite)
    python -m benchmarks.soak --seconds 120 --json

Every push is a fresh image (random layers, so no dedupe flatters it) that
shares a base layer with the others (so dedupe and gc have work); pulls read
a random live image back and check every digest; deletes remove a random
image's manifest; `sealedreg gc` runs from another process every few
seconds with a short grace period (10 s; 30 s in the long run), so deleted
images are really freed while pushes and pulls go on. The
RSS verdict compares the last third of the run with the first third (after
a warm-up): growth beyond half again plus 32 MiB is reported as unbounded.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers.server import run_registry

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OPS = ("push", "pull", "delete", "gc")


@dataclass
class Results:
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=lambda: {op: [] for op in OPS})
    errors: dict[str, list[str]] = field(default_factory=lambda: {op: [] for op in OPS})
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)
    freed_blocks: int = 0  # what the collections freed
    freed_bytes: int = 0

    def rss_bounded(self) -> bool:
        samples = [mb for t, mb in self.rss_mb if t >= self.seconds * 0.2]  # after the warm-up
        if len(samples) < 6:
            return True
        third = len(samples) // 3
        first, last = statistics.median(samples[:third]), statistics.median(samples[-third:])
        return last <= first * 1.5 + 32

    def summary(self) -> dict:
        def pct(values: list[float], q: float) -> float | None:
            if not values:
                return None
            ordered = sorted(values)
            return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

        return {
            "seconds": self.seconds,
            "errors": sum(len(e) for e in self.errors.values()),
            "operations": {op: {"count": len(self.latencies[op]), "errors": len(self.errors[op]),
                                "p50": pct(self.latencies[op], 0.5), "p99": pct(self.latencies[op], 0.99),
                                "first_errors": self.errors[op][:3]} for op in OPS},
            "gc_freed": {"blocks": self.freed_blocks, "bytes": self.freed_bytes},
            "rss_mb": {"start": self.rss_mb[0][1] if self.rss_mb else None,
                       "peak": max((mb for _, mb in self.rss_mb), default=None),
                       "end": self.rss_mb[-1][1] if self.rss_mb else None,
                       "bounded": self.rss_bounded()},
        }


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Soak:
    def __init__(self, url: str, max_layer: int) -> None:
        self.url = url
        self.max_layer = max_layer
        self.base = os.urandom(256 * 1024)  # every image's first layer: dedupe has work
        self.live: dict[str, tuple[str, list[bytes]]] = {}  # repo:tag -> (manifest digest, blobs)
        self.counter = 0

    async def _blob(self, client: httpx.AsyncClient, repo: str, data: bytes) -> None:
        r = await client.post(f"/v2/{repo}/blobs/uploads/")
        r.raise_for_status()
        r = await client.patch(r.headers["location"], content=data)
        r.raise_for_status()
        r = await client.put(r.headers["location"], params={"digest": digest_of(data)})
        if r.status_code != 201:
            raise RuntimeError(f"blob PUT {r.status_code}: {r.text[:200]}")

    async def push(self, client: httpx.AsyncClient) -> None:
        self.counter += 1
        repo, tag = f"soak.test/r{self.counter % 16}", f"t{self.counter}"
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": self.counter}).encode()
        layers = [self.base, os.urandom(random.randint(1024, self.max_layer))]
        for blob in (config, *layers):
            await self._blob(client, repo, blob)
        body = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST,
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": digest_of(config), "size": len(config)},
                           "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                                       "digest": digest_of(b), "size": len(b)} for b in layers]}).encode()
        r = await client.put(f"/v2/{repo}/manifests/{tag}", content=body, headers={"Content-Type": MANIFEST})
        if r.status_code != 201:
            raise RuntimeError(f"manifest PUT {r.status_code}: {r.text[:200]}")
        self.live[f"{repo}:{tag}"] = (digest_of(body), [config, *layers])

    async def pull(self, client: httpx.AsyncClient) -> None:
        if not self.live:
            return await self.push(client)
        ref = random.choice(list(self.live))
        repo, tag = ref.split(":")
        digest, blobs = self.live[ref]
        r = await client.get(f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST})
        if r.status_code == 404 and ref not in self.live:
            return  # deleted meanwhile by another client
        if r.status_code != 200 or digest_of(r.content) != digest:
            raise RuntimeError(f"manifest GET {r.status_code}")
        for blob in blobs:
            got = await client.get(f"/v2/{repo}/blobs/{digest_of(blob)}")
            if got.status_code == 404 and ref not in self.live:
                return  # deleted, and collected, while we read it
            if got.status_code != 200 or got.content != blob:
                raise RuntimeError(f"blob GET {got.status_code} for {digest_of(blob)[:19]}")

    async def delete(self, client: httpx.AsyncClient) -> None:
        if len(self.live) < 4:
            return await self.push(client)
        ref = random.choice(list(self.live))
        digest, _ = self.live.pop(ref)
        repo = ref.split(":")[0]
        r = await client.delete(f"/v2/{repo}/manifests/{digest}")
        if r.status_code not in (202, 404):  # 404: an image pushed twice under one digest, gone already
            raise RuntimeError(f"manifest DELETE {r.status_code}")


def run(seconds: float, clients: int, max_layer: int, gc_every: float, workdir: Path,
        grace: str = "10s") -> Results:
    results = Results(seconds)
    data = workdir / "data"
    with run_registry(data) as srv:
        soak = Soak(srv.url, max_layer)
        start = time.monotonic()
        deadline = start + seconds
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                results.rss_mb.append((round(time.monotonic() - start, 2), rss_mb(srv.proc.pid)))
                stop.wait(0.5)

        def collect() -> None:
            while not stop.wait(gc_every):
                t0 = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "sealedreg", "gc", "--data", str(data), "--json",
                                       "--grace", grace],
                                      capture_output=True, text=True, timeout=600)
                results.latencies["gc"].append(time.perf_counter() - t0)
                if done.returncode != 0:
                    results.errors["gc"].append(done.stderr.strip()[:200])
                else:
                    report = json.loads(done.stdout)
                    results.freed_blocks += report["blocks"]
                    results.freed_bytes += report["bytes"]

        async def worker() -> None:
            async with httpx.AsyncClient(base_url=srv.url, timeout=120) as client:
                while time.monotonic() < deadline:
                    op = random.choices(("push", "pull", "delete"), weights=(4, 5, 1))[0]
                    t0 = time.perf_counter()
                    try:
                        await getattr(soak, op)(client)
                    except Exception as exc:  # noqa: BLE001 - every failure is a result
                        results.errors[op].append(f"{type(exc).__name__}: {exc}"[:200])
                    results.latencies[op].append(time.perf_counter() - t0)

        async def drive() -> None:
            await asyncio.gather(*(worker() for _ in range(clients)))

        threads = [threading.Thread(target=sample), threading.Thread(target=collect)]
        for t in threads:
            t.start()
        try:
            asyncio.run(drive())
        finally:
            stop.set()
            for t in threads:
                t.join()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 s, 4 clients, small layers")
    ap.add_argument("--seconds", type=float, default=None, help="how long the load runs (at most 600)")
    ap.add_argument("--clients", type=int, default=None)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args()
    seconds = min(args.seconds or (20.0 if args.quick else 600.0), 600.0)
    clients = args.clients or (4 if args.quick else 8)
    with tempfile.TemporaryDirectory(prefix="sealedreg-soak-") as tmp:
        results = run(seconds, clients, 64 * 1024 if args.quick else 4 * 1024 * 1024,
                      gc_every=5.0 if args.quick else 30.0, workdir=Path(tmp), grace="10s" if args.quick else "30s")
    summary = results.summary()
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"soak: {seconds:g} s, {clients} clients, errors: {summary['errors']}")
        print(f"{'op':8} {'count':>7} {'errors':>7} {'p50 s':>8} {'p99 s':>8}")
        for op, row in summary["operations"].items():
            print(f"{op:8} {row['count']:>7} {row['errors']:>7} {row['p50'] or 0:>8.4f} {row['p99'] or 0:>8.4f}")
        print(f"gc freed {summary['gc_freed']['blocks']} blocks, {summary['gc_freed']['bytes']} bytes")
        rss = summary["rss_mb"]
        print(f"server RSS MiB: start {rss['start']:.0f}, peak {rss['peak']:.0f}, end {rss['end']:.0f}, "
              f"{'bounded' if rss['bounded'] else 'GROWING'}")
    sys.exit(0 if summary["errors"] == 0 and summary["rss_mb"]["bounded"] else 1)


if __name__ == "__main__":
    main()
