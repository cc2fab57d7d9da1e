"""The soak's quick mode (benchmarks/soak.py): 20 s of mixed push, pull,
delete and `sealedreg gc` from another process against one real `serve`:
no operation fails and the server's memory does not keep growing."""

from __future__ import annotations

import pytest

from benchmarks.soak import run

pytestmark = pytest.mark.integration


def test_quick_soak_has_no_errors_and_bounded_memory(tmp_path):
    results = run(seconds=20, clients=4, max_layer=64 * 1024, gc_every=5, workdir=tmp_path, grace="10s")
    summary = results.summary()
    ops = summary["operations"]
    assert summary["errors"] == 0, {op: row["first_errors"] for op, row in ops.items()}
    assert all(ops[op]["count"] > 0 for op in ("push", "pull", "delete", "gc")), ops
    assert summary["gc_freed"]["blocks"] > 0  # deleted images really were collected under load
    assert summary["rss_mb"]["bounded"], results.rss_mb
