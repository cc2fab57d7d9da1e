"""Every Prometheus metric the registry exports, in one dedicated registry
(docs/api.md "Metrics and health").

The objects live here, below the layers that count (api, registry,
storage), so each layer increments its own and none reaches up. Labels are
chosen from small fixed sets — route templates, HTTP methods and statuses,
Kubo RPC command paths, outcomes — and never carry a path, a repository
name, a digest, a CID or a user: a scrape must not say what is stored here.
"""

from __future__ import annotations

import contextlib
from typing import AsyncIterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)
"""Only sealedreg's metrics (and the process's): never the library's global default registry."""

ProcessCollector(registry=REGISTRY)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

# -- HTTP (sealedreg/api/observe.py) ------------------------------------------
HTTP_REQUESTS = Counter(
    "sealedreg_http_requests_total", "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"], registry=REGISTRY)
HTTP_DURATION = Histogram(
    "sealedreg_http_request_duration_seconds",
    "Time from a request's arrival to the last byte of its response, by route template, method and status.",
    ["route", "method", "status"], buckets=_LATENCY, registry=REGISTRY)
HTTP_BYTES_IN = Counter(
    "sealedreg_http_request_bytes_total", "Request body bytes received, by route template and method.",
    ["route", "method"], registry=REGISTRY)
HTTP_BYTES_OUT = Counter(
    "sealedreg_http_response_bytes_total", "Response body bytes sent, by route template and method.",
    ["route", "method"], registry=REGISTRY)

# -- the registry model ---------------------------------------------------------
DEDUPE_HITS = Counter(
    "sealedreg_dedupe_hits_total",
    "Blobs pushed or mounted whose content was already stored in their dedupe domain (nothing new stored).",
    ["kind"], registry=REGISTRY)  # kind: push | mount | discover (a blob another repository holds)
UPLOADS_IN_FLIGHT = Gauge(
    "sealedreg_uploads_in_flight", "Upload requests (chunks and commits) receiving or storing a body now.",
    registry=REGISTRY)
BLOBS_LANDING = Gauge(
    "sealedreg_blobs_landing",
    "Pushed blobs acknowledged whose encryption into the store has not finished (docs/format.md §2).",
    registry=REGISTRY)
FEDERATION_RESOLUTIONS = Counter(
    "sealedreg_federation_resolutions_total",
    "Foreign namespaces asked for: hit (verified tree cached), miss (resolved and verified now), error.",
    ["result"], registry=REGISTRY)
FEDERATION_DURATION = Histogram(
    "sealedreg_federation_resolution_duration_seconds",
    "Time to find a foreign namespace's verified tree (DNS, IPFS, verification), by result.",
    ["result"], buckets=_LATENCY, registry=REGISTRY)

# -- storage ------------------------------------------------------------------
KUBO_RPC_DURATION = Histogram(
    "sealedreg_kubo_rpc_duration_seconds",
    "Kubo RPC calls, by command path (add, block/get, cat, ...), retries included; streamed calls until "
    "their last byte.", ["command"], buckets=_LATENCY, registry=REGISTRY)
KUBO_RPC_ERRORS = Counter(
    "sealedreg_kubo_rpc_errors_total",
    "Kubo RPC calls that failed, by command path and kind (unavailable: unreachable or timed out; "
    "error: Kubo refused).", ["command", "kind"], registry=REGISTRY)

# -- garbage collection (counted by the collector) --------------------------------
GC_RUNS = Counter("sealedreg_gc_runs_total", "Garbage collections run, by result (ok, error).", ["result"],
                  registry=REGISTRY)
GC_FREED_BYTES = Counter("sealedreg_gc_freed_bytes_total", "Bytes of blocks removed by garbage collection.",
                         registry=REGISTRY)
GC_FREED_BLOCKS = Counter("sealedreg_gc_freed_blocks_total", "Blocks removed by garbage collection.",
                          registry=REGISTRY)

CONTENT_TYPE = CONTENT_TYPE_LATEST


@contextlib.asynccontextmanager
async def in_progress(gauge: Gauge) -> AsyncIterator[None]:
    """`gauge` counts one more while the block runs (usable in an `async with` beside others)."""
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def exposition() -> bytes:
    """The text exposition format of every metric above."""
    return generate_latest(REGISTRY)


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    """One sample's current value (0 when it has not been recorded yet): for tests and diagnostics."""
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0
