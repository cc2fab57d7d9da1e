"""Canary for the conformance tooling itself: run both suites against Debian's
Go reference registry (`docker-registry`, distribution 2.8), which is known to
fail a number of checks, and verify the failures are found and reported by
name.  This guards against the worst failure mode of a conformance test: a
parsing or setup bug that makes it pass vacuously.

Measured with distribution 2.8.2 (Debian 2.8.2+ds1) when this was written:
Ginkgo suite 12 failed of 74 run specs; main harness 99 failed checks
(98 failing junit test cases).  The bounds below are loose on purpose.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.conformance import (
    BuildError,
    ConformanceBinaries,
    build_conformance,
    run_ginkgo_suite,
    run_main_harness,
    target_from_url,
)
from tests.helpers.reference import reference_binary, run_reference_registry

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def binaries() -> ConformanceBinaries:
    try:
        return build_conformance()
    except BuildError as e:
        pytest.fail(f"cannot build the conformance suites:\n{e}", pytrace=False)


@pytest.fixture
def reference(tmp_path: Path):
    if reference_binary() is None:
        pytest.fail("the reference registry is not installed: apt-get install docker-registry",
                    pytrace=False)
    with run_reference_registry(tmp_path / "reference") as srv:
        yield target_from_url(srv.url)


def test_ginkgo_suite_reports_reference_failures(binaries, reference, tmp_path: Path) -> None:
    res = run_ginkgo_suite(binaries.ginkgo, reference, tmp_path / "ginkgo")
    report = res.report()
    assert not res.ok, report
    assert 5 <= res.failure_count <= 30, report
    assert res.tests > 60, report
    names = {f.name for f in res.failures}
    # distribution 2.8 has no referrers API and accepts out-of-order chunks
    assert any("Out-of-order blob upload should return 416" in n for n in names), report
    assert any("GET request to nonexistent blob should result in empty 200 response" in n
               for n in names), report
    # the failing request/response pairs are cut from the debug log
    chunk = next(f for f in res.failures if "Out-of-order" in f.name)
    assert "PATCH" in chunk.excerpt and "Content-Range: 22-41" in chunk.excerpt, report
    assert "FAIL Push Blob Upload Chunked Out-of-order blob upload should return 416" in report


def test_main_harness_reports_reference_failures(binaries, reference, tmp_path: Path) -> None:
    res = run_main_harness(binaries.main, reference, tmp_path / "main")
    report = res.report()
    assert not res.ok and res.returncode == 1, report
    assert 40 <= res.failure_count <= 200, report
    assert res.tests > 500, report
    names = {f.name for f in res.failures}
    assert any(n.endswith("/empty/referrers") for n in names), report
    assert any("chunked out-of-order/blob-patch-chunked" in n for n in names), report
    ooo = next(f for f in res.failures if "chunked out-of-order/blob-patch-chunked" in f.name)
    assert "expected one of [416], received 202" in ooo.message, report
    assert "~~~ REQUEST ~~~" in ooo.excerpt and "Content-Range" in ooo.excerpt, report
    assert any("Referrers" in n for n in res.notes), report
