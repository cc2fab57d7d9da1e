"""Codec + DAG builder throughput on one core, against Kubo in the same run.

    python -m benchmarks.codec            # 1 GB
    python -m benchmarks.codec --mb 200

sealedreg's work per pushed byte is: AES-256-GCM encrypt (sealedreg-ce/v1),
SHA-256 of each 1 MiB leaf (its CID) and the balanced DAG over the leaves. It
runs here on one thread, from a file in the page cache to nowhere (the
blocks are hashed and dropped), so the figure is the codec's, not the
disk's. The peer is Kubo's `ipfs add --only-hash` of the same file with the
same import parameters (chunk, hash, DAG — no encryption), one core
(GOMAXPROCS=1). Prints MB/s for both and the ratio sealedreg/Kubo (higher is
better for sealedreg).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from sealedreg.crypto.convergent import ChunkCipher, derive_key
from sealedreg.storage.unixfs import FileDagBuilder


def sealedreg_pass(path: Path, size: int) -> tuple[float, str]:
    key = derive_key("sha256:" + "0" * 64)  # the key's origin does not change the cost
    cipher = ChunkCipher(key, size)
    builder = FileDagBuilder(lambda cid, block: None)
    t0 = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        for i in range(cipher.chunks):
            builder.add_leaf(cipher.encrypt(i, f.read(cipher.plain_length(i))))
    root = builder.finish()
    return time.perf_counter() - t0, str(root.cid)


def kubo_pass(path: Path, ipfs: Path, repo: Path) -> float:
    env = {**os.environ, "IPFS_PATH": str(repo), "GOMAXPROCS": "1"}
    t0 = time.perf_counter()
    subprocess.run([str(ipfs), "add", "--only-hash", "-Q", "--offline", "--cid-version=1", "--raw-leaves",
                    "--chunker=size-1048576", str(path)], env=env, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1000, help="blob size in MB (default 1000)")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    from tests.helpers.kubo import init_repo, kubo_binary

    size = args.mb * 1000 * 1000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "blob"
        with open(path, "wb") as f:
            seed = hashlib.sha256(b"codec-bench").digest()
            for i in range(0, size, 1 << 20):
                f.write((seed * 32768)[: min(1 << 20, size - i)])
                seed = hashlib.sha256(seed).digest()
        ipfs = kubo_binary()
        repo = Path(tmp) / "ipfs"
        init_repo(repo)
        ours, theirs = [], []
        for _ in range(args.rounds):
            t, cid = sealedreg_pass(path, size)
            ours.append(t)
            theirs.append(kubo_pass(path, ipfs, repo))
        best_ours, best_theirs = min(ours), min(theirs)
        mb = size / 1e6
        print(f"\n{args.mb} MB blob, best of {args.rounds}, one core")
        print(f"  sealedreg encrypt + leaf CIDs + DAG : {mb / best_ours:8.0f} MB/s  (root {cid[:20]}…)")
        print(f"  Kubo add --only-hash (no encryption): {mb / best_theirs:8.0f} MB/s")
        print(f"  ratio sealedreg/Kubo throughput     : {best_theirs / best_ours:8.2f}x")


if __name__ == "__main__":
    main()
