"""The metrics registry (sealedreg/metrics.py): what it holds, what its labels
may carry, and the Kubo RPC client's counts."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import pytest

from sealedreg import metrics
from sealedreg.storage.kubo_rpc import KuboClient, KuboError, KuboTimeouts, KuboUnavailable
from tests.helpers.server import free_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api.md"
SAFE_LABELS = {"route", "method", "status", "kind", "command", "result"}
"""Label names whose values come from small fixed sets: never a name, a digest, a CID or a user."""


def sealedreg_metrics() -> dict[str, object]:
    return {m.name: m for m in metrics.REGISTRY.collect() if m.name.startswith("sealedreg_")}


def test_every_metric_is_documented_and_labelled_safely():
    found = sealedreg_metrics()
    assert {"sealedreg_gc_freed_bytes", "sealedreg_gc_freed_blocks", "sealedreg_gc_runs"} <= set(found)
    docs = DOCS.read_text()
    for family in metrics.REGISTRY.collect():
        if not family.name.startswith("sealedreg_"):
            continue
        shown = family.name + ("_total" if family.type == "counter" else "")
        assert f"`{shown}`" in docs, f"{shown} is not in docs/api.md"
    for name, obj in vars(metrics).items():
        labels = getattr(obj, "_labelnames", None)
        if labels is not None:
            assert set(labels) <= SAFE_LABELS, (name, labels)


def test_gc_metrics_are_the_names_the_collector_increments():
    metrics.GC_RUNS.labels("ok").inc(0)
    text = metrics.exposition().decode()
    for line in ("# TYPE sealedreg_gc_freed_bytes_total counter", "# TYPE sealedreg_gc_freed_blocks_total counter",
                 "# TYPE sealedreg_gc_runs_total counter"):
        assert line in text


def test_in_progress_counts_while_the_block_runs():
    async def go():
        async with metrics.in_progress(metrics.UPLOADS_IN_FLIGHT):
            inside = metrics.sample("sealedreg_uploads_in_flight")
        return inside

    before = metrics.sample("sealedreg_uploads_in_flight")
    assert asyncio.run(go()) == before + 1
    assert metrics.sample("sealedreg_uploads_in_flight") == before


def errors(command: str, kind: str) -> float:
    return metrics.sample("sealedreg_kubo_rpc_errors_total", {"command": command, "kind": kind})


def test_kubo_calls_are_timed_and_failures_counted_by_command_never_by_cid():
    cid = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/block/get"):
            return httpx.Response(500, json={"Message": "block was not found locally (offline)"})
        return httpx.Response(200, json={"ID": "12D3KooW"})

    async def go() -> None:
        client = KuboClient("http://kubo.invalid:5001", KuboTimeouts(retries=1))
        await client.aclose()
        client._http = httpx.AsyncClient(base_url="http://kubo.invalid:5001/api/v0/",
                                         transport=httpx.MockTransport(answer))
        try:
            assert (await client.node_id())["ID"] == "12D3KooW"
            with pytest.raises(KuboError):
                await client.block_get(cid)
        finally:
            await client.aclose()
        dead = KuboClient(f"http://127.0.0.1:{free_port()}", KuboTimeouts(retries=1, connect=1.0))
        try:
            with pytest.raises(KuboUnavailable):
                await dead.node_id(retry=False)
            with pytest.raises(KuboUnavailable):
                async for _ in dead.cat(cid):
                    pass
        finally:
            await dead.aclose()

    before = {k: errors(*k) for k in (("block/get", "error"), ("id", "unavailable"), ("cat", "unavailable"))}
    timed = metrics.sample("sealedreg_kubo_rpc_duration_seconds_count", {"command": "id"})
    asyncio.run(go())
    assert {k: errors(*k) - before[k] for k in before} == {k: 1 for k in before}
    assert metrics.sample("sealedreg_kubo_rpc_duration_seconds_count", {"command": "id"}) == timed + 2
    assert cid not in metrics.exposition().decode()


def test_exposition_is_prometheus_text():
    text = metrics.exposition().decode()
    assert re.search(r"^# HELP sealedreg_http_requests_total ", text, re.M)
    assert metrics.CONTENT_TYPE.startswith("text/plain")
