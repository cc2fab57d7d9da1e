"""Where a push and a pull spend the server's time: py-spy on a real `serve`.

    pip install -e '.[bench]'                       # py-spy
    python -m benchmarks.profile                     # 200 MB, fresh random bytes
    python -m benchmarks.profile --size 1000 --top 30 --keep /tmp/prof

Starts `sealedreg serve` on a loopback port, pushes one freshly generated
blob with the requests docker and skopeo send (POST, one streamed PATCH,
PUT ?digest=), then GETs it, and samples the server with py-spy (all
threads, 200 Hz) during each phase separately: the PATCH (receiving,
hashing, writing the upload), the PUT (verifying and acknowledging; the
encryption that follows is the "landing" phase, profiled until
`sealedreg_blobs_landing` reads 0) and the GET (decrypting and verifying
on the way out). Prints each phase's wall time and its hottest frames by
self time; `--keep DIR` keeps the raw profiles (`py-spy`'s collapsed
stacks, readable by flamegraph tools). Not a benchmark: py-spy slows what
it samples a little; compare phases, not runs.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import httpx

from tests.helpers.server import RunningServer, run_registry

MB = 1000 * 1000


class Sampler:
    """py-spy recording one phase of the server `pid` into `out` (raw collapsed stacks)."""

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc = subprocess.Popen(["py-spy", "record", "--rate", "200", "--threads", "--nonblocking",
                                      "--format", "raw", "--output", str(out), "--pid", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # py-spy attaches asynchronously and says nothing when it has

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        _, err = self.proc.communicate(timeout=60)
        if not self.out.exists():
            raise SystemExit(f"py-spy wrote no profile (is it installed, may it ptrace?): {err.decode()[-500:]}")


def hottest(raw: Path, top: int) -> list[tuple[int, str]]:
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            counts[stack.split(";")[-1]] += int(n)
    return [(n, frame) for frame, n in counts.most_common(top)]


def landing(srv: RunningServer) -> float:
    text = httpx.get(f"{srv.url}/metrics", timeout=30).text
    return next(float(line.split()[1]) for line in text.splitlines() if line.startswith("sealedreg_blobs_landing "))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=200, help="blob size in MB (default 200)")
    ap.add_argument("--top", type=int, default=15, help="frames to print per phase")
    ap.add_argument("--keep", type=Path, default=None, help="keep the raw profiles in this directory")
    ap.add_argument("--backend", choices=("embedded", "kubo"), default="embedded")
    args = ap.parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install -e '.[bench]'")
    blob = os.urandom(args.size * MB)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        out = args.keep or work
        out.mkdir(parents=True, exist_ok=True)
        with serving(args.backend, work) as srv, httpx.Client(base_url=srv.url, timeout=600) as client:
            phases: list[tuple[str, float, Path]] = []

            def phase(name: str, fn) -> None:
                sampler = Sampler(srv.proc.pid, out / f"{name}.raw")
                t0 = time.perf_counter()
                fn()
                seconds = time.perf_counter() - t0
                sampler.stop()
                phases.append((name, seconds, sampler.out))

            where = client.post("/v2/bench/profile/blobs/uploads/").headers["location"]
            state = {}

            def patch() -> None:
                state["where"] = client.patch(where, content=blob).raise_for_status().headers["location"]

            def put() -> None:
                assert client.put(state["where"], params={"digest": digest}).status_code == 201

            def land() -> None:
                while landing(srv):
                    time.sleep(0.02)  # polling /metrics: nothing announces it

            def get() -> None:
                with client.stream("GET", f"/v2/bench/profile/blobs/{digest}") as r:
                    assert sum(len(p) for p in r.iter_raw()) == len(blob)

            for name, fn in (("patch", patch), ("put", put), ("landing", land), ("get", get)):
                phase(name, fn)
        print(f"{args.size} MB blob, {args.backend} store; self time by frame (samples at 200 Hz, all threads)")
        for name, seconds, raw in phases:
            print(f"\n== {name}: {seconds:.2f} s")
            for n, frame in hottest(raw, args.top):
                print(f"{n:6d}  {frame[:140]}")
    if args.keep:
        print(f"\nraw profiles in {args.keep}")


@contextlib.contextmanager
def serving(backend: str, work: Path) -> Iterator[RunningServer]:
    """`serve` on the chosen store (a Kubo daemon started here for `kubo`)."""
    with contextlib.ExitStack() as stack:
        extra: list[str] = []
        if backend == "kubo":
            from tests.helpers.kubo import run_kubo

            extra = ["--ipfs-api", stack.enter_context(run_kubo(work)).api_url]
        yield stack.enter_context(run_registry(work / "data", extra))


if __name__ == "__main__":
    main()
