"""skopeo push/pull: sealedreg against Debian's Go reference registry, same run.

    python -m benchmarks.push_pull                 # 200MB×1, 200MB×20, 1GB×1; 3 rounds
    python -m benchmarks.push_pull --quick         # 20MB×1, 20MB×4; 2 rounds
    python -m benchmarks.push_pull --parallel 20   # only: 20 distinct 50 MB images pushed at once

Both registries run on loopback ports, started here and stopped at the end.
Every round pushes a freshly generated image (new random layers), so no
dedupe, cache or warm path flatters a cold number; every push and pull is a
fresh skopeo sandbox (so its blob-info cache is empty), into a repository
name used once, alternating which registry goes first. After the rounds, the
first round's image is pushed once more to a new repository: that is the
dedupe push, reported on its own line. Prints medians and the ratio
sealedreg/reference (lower is better), each server's CPU seconds per GB
pushed and pulled over the cold rounds, and each server's peak RSS (VmHWM)
over the whole run — which bounds its peak during the 1 GB push. Then (or,
with --parallel N, only) N distinct fresh images of 50 MB are pushed at once
by N skopeo processes to each registry in turn: every push must succeed,
and the total wall time is compared. A ratio,
not a wall-clock threshold: the machine is shared and noisy, so only numbers
measured side by side mean anything.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.reference import run_reference_registry
from tests.helpers.server import RunningServer, run_registry

MB = 1000 * 1000
PROFILES = {
    "full": [("200MB x 1", [200 * MB]), ("200MB x 20", [10 * MB] * 20), ("1GB x 1", [1000 * MB])],
    "quick": [("20MB x 1", [20 * MB]), ("20MB x 4", [5 * MB] * 4)],
}


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """User + system CPU of the child processes waited for so far (the skopeo runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def stored_after(srv: RunningServer, timeout: float = 300.0) -> float:
    """Seconds until the blobs sealedreg acknowledged before encrypting them
    (docs/format.md §2) are all stored, read from its /metrics."""
    t0 = time.perf_counter()
    while True:
        text = httpx.get(f"{srv.url}/metrics", timeout=30).text
        waiting = next(float(line.split()[1]) for line in text.splitlines()
                       if line.startswith("sealedreg_blobs_landing "))
        if waiting == 0:
            return time.perf_counter() - t0
        if time.perf_counter() - t0 > timeout:
            raise SystemExit("sealedreg never stored its acknowledged blobs")
        time.sleep(0.02)  # polling: nothing announces it


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small images, for a smoke run")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--workdir", type=Path, default=None, help="where images and data go (default: a temp dir)")
    ap.add_argument("--only", default=None, help="run just this image of the profile, e.g. '1GB x 1'")
    ap.add_argument("--parallel", type=int, default=None, metavar="N",
                    help="only the parallel line: N distinct 50 MB images pushed at once (default: 20 after "
                         "the profile; 4 × 5 MB with --quick)")
    ap.add_argument("--backend", choices=("embedded", "kubo"), default="embedded",
                    help="sealedreg's store: embedded, or a Kubo daemon started here (its RSS is reported too)")
    args = ap.parse_args()
    profile = PROFILES["quick" if args.quick else "full"]
    if args.only:
        profile = [p for p in profile if p[0] == args.only]
        if not profile:
            ap.error(f"--only: no image {args.only!r} in the profile")
    rounds = args.rounds or (2 if args.quick else 3)
    parallel = (args.parallel, 50 * MB) if args.parallel else ((4, 5 * MB) if args.quick else (20, 50 * MB))
    if args.parallel:
        profile = []

    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        work = Path(tmp)
        with contextlib.ExitStack() as stack:
            extra: list[str] = []
            kubo = None
            if args.backend == "kubo":
                from tests.helpers.kubo import run_kubo

                kubo = stack.enter_context(run_kubo(work))
                extra = ["--ipfs-api", kubo.api_url]
            # Every skopeo here comes from 127.0.0.1: lift the per-client upload limit, as the reference has none.
            ours = stack.enter_context(run_registry(work / "sealedreg-data", extra,
                                                    env={"SEALEDREG_MAX_UPLOADS_PER_CLIENT": "0"}))
            ref = stack.enter_context(run_reference_registry(work / "ref"))
            servers: dict[str, RunningServer] = {"sealedreg": ours, "reference": ref}
            # The processes doing a server's work: sealedreg on Kubo counts Kubo's CPU too.
            pids = {"sealedreg": [ours.proc.pid] + ([kubo.proc.pid] if kubo is not None else []),
                    "reference": [ref.proc.pid]}
            results: dict[tuple[str, str, str], list[float]] = {}
            cpu: dict[tuple[str, str], float] = {}  # (op, server) -> CPU seconds over the cold rounds
            moved: dict[str, int] = {}  # op -> payload bytes over the cold rounds (per server)
            client: dict[tuple[str, str], float] = {}  # (op, server) -> skopeo's CPU seconds, same rounds
            walls: dict[tuple[str, str], float] = {}  # (op, server) -> wall seconds, background encryption's too

            lag: list[float] = []  # seconds from sealedreg's last 201 until its blobs were stored

            def measured(name: str, op: str, nbytes: int, fn) -> float:
                before = sum(cpu_seconds(p) for p in pids[name])
                client_before = children_cpu_seconds()
                seconds = fn()
                client[(op, name)] = client.get((op, name), 0.0) + children_cpu_seconds() - client_before
                busy_for = seconds
                if name == "sealedreg" and op == "push":
                    lag.append(stored_after(ours))  # its CPU counts, and the next pull starts settled
                    busy_for += lag[-1]
                walls[(op, name)] = walls.get((op, name), 0.0) + busy_for
                cpu[(op, name)] = cpu.get((op, name), 0.0) + sum(cpu_seconds(p) for p in pids[name]) - before
                if name == "sealedreg":
                    moved[op] = moved.get(op, 0) + nbytes
                return seconds
            sandboxes = iter(range(1_000_000))

            def push(name: str, image: Path, repo: str) -> float:
                srv = servers[name]
                with ClientSandbox(work / f"sb{next(sandboxes)}", srv.address) as sb:
                    return timed(lambda: sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{image}:bench",
                                                   f"docker://{srv.address}/{repo}:bench", debug=False))

            def pull(name: str, repo: str) -> float:
                srv = servers[name]
                out = work / f"pull{next(sandboxes)}"
                with ClientSandbox(work / f"sb{next(sandboxes)}", srv.address) as sb:
                    seconds = timed(lambda: sb.skopeo("copy", "--src-tls-verify=false",
                                                      f"docker://{srv.address}/{repo}:bench", f"dir:{out}",
                                                      debug=False))
                shutil.rmtree(out, ignore_errors=True)
                return seconds

            for i, (label, layers) in enumerate(profile):
                slug = label.replace(" ", "").lower()
                first = None
                for r in range(rounds):
                    # Fresh random layers every round; "200MB x 20" is "200 MB in 20 layers";
                    # stored (level-0) gzip keeps generation at disk speed.
                    image = write_image(work / f"img{i}-{r}", layers=layers, tag="bench", seed=1000 + 100 * i + r,
                                        compresslevel=0).path
                    order = ["sealedreg", "reference"] if r % 2 == 0 else ["reference", "sealedreg"]
                    for name in order:
                        repo = f"bench/{slug}-r{r}"
                        results.setdefault((label, "push", name), []).append(
                            measured(name, "push", sum(layers), lambda: push(name, image, repo)))
                        results.setdefault((label, "pull", name), []).append(
                            measured(name, "pull", sum(layers), lambda: pull(name, repo)))
                    if r == 0:
                        first = image
                    else:
                        shutil.rmtree(image)
                for name in ("sealedreg", "reference"):  # the same layers again, into a new repository
                    results[(label, "dedupe push", name)] = [push(name, first, f"bench/{slug}-again")]
                shutil.rmtree(first)
            # Peak RSS through the sequential pushes (the largest image's included), before the parallel ones.
            rss_sequential = {name: peak_rss_mb(srv.proc.pid) for name, srv in servers.items()}
            n, size = parallel
            images = [write_image(work / f"par{k}", layers=[size], tag="bench", seed=900_000 + k,
                                  compresslevel=0).path for k in range(n)]
            together: dict[str, float] = {}
            for name in ("sealedreg", "reference"):  # distinct images: nothing dedupes, same images for both
                with concurrent.futures.ThreadPoolExecutor(n) as pool:
                    t0 = time.perf_counter()
                    futures = [pool.submit(push, name, image, f"bench/parallel-{k}") for k, image in enumerate(images)]
                    failed = [f.exception() for f in futures if f.exception() is not None]
                    together[name] = time.perf_counter() - t0
                if failed:
                    raise SystemExit(f"{name}: {len(failed)} of {n} parallel pushes failed: {failed[0]}")
            for image in images:
                shutil.rmtree(image)
            rss = {name: peak_rss_mb(srv.proc.pid) for name, srv in servers.items()}
            if kubo is not None:
                rss["kubo"] = peak_rss_mb(kubo.proc.pid)

    print(f"\n{n} distinct {size // MB} MB images pushed at once, all succeeded: sealedreg "
          f"{together['sealedreg']:.2f} s, reference {together['reference']:.2f} s, "
          f"ratio {together['sealedreg'] / together['reference']:.2f}x")
    if not profile:
        print(f"\nsealedreg backend: {args.backend}")
        print("peak RSS over the run: " + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))
        return
    print(f"\nskopeo push/pull, {rounds} rounds of fresh images, medians in seconds "
          "(ratio = sealedreg / reference); dedupe push: the first image again, once\n")
    print(f"{'image':<12} {'op':<12} {'sealedreg':>10} {'reference':>10} {'ratio':>7}")
    for label, _ in profile:
        for op in ("push", "pull", "dedupe push"):
            ours_s = statistics.median(results[(label, op, "sealedreg")])
            ref_s = statistics.median(results[(label, op, "reference")])
            print(f"{label:<12} {op:<12} {ours_s:>10.2f} {ref_s:>10.2f} {ours_s / ref_s:>6.2f}x")
    print(f"\nafter each cold push returned, sealedreg finished encrypting in the background within "
          f"{statistics.median(lag):.2f} s (median), {max(lag):.2f} s (max)")
    print("\nserver CPU seconds per GB moved (cold rounds, background encryption included; "
          "sealedreg on Kubo includes Kubo's):")
    for op in ("push", "pull"):
        per_gb = {name: cpu[(op, name)] / (moved[op] / 1e9) for name in ("sealedreg", "reference")}
        print(f"  {op:<5} sealedreg {per_gb['sealedreg']:6.2f} s/GB, reference {per_gb['reference']:6.2f} s/GB, "
              f"ratio {per_gb['sealedreg'] / per_gb['reference']:.2f}x")
    print(f"\nhow busy the {os.cpu_count()} cores were (server + skopeo CPU / wall / cores; a push's wall time "
          "here includes sealedreg's background encryption), and skopeo's own CPU per GB, cold rounds:")
    for op in ("push", "pull"):
        busy = {name: (cpu[(op, name)] + client[(op, name)]) / walls[(op, name)] / (os.cpu_count() or 1)
                for name in ("sealedreg", "reference")}
        own = {name: client[(op, name)] / (moved[op] / 1e9) for name in ("sealedreg", "reference")}
        print(f"  {op:<5} against sealedreg {busy['sealedreg']:4.0%} (skopeo {own['sealedreg']:.2f} s/GB), "
              f"against the reference {busy['reference']:4.0%} (skopeo {own['reference']:.2f} s/GB)")
    print(f"\nsealedreg backend: {args.backend}")
    print(f"peak RSS through the sequential pushes and pulls (up to {profile[-1][0]}): "
          + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss_sequential.items()))
    print(f"peak RSS over the whole run ({n} parallel pushes included): "
          + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))


if __name__ == "__main__":
    main()
