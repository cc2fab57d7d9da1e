"""The OCI distribution-spec conformance suites, run against a fresh sealedreg.

Both suites are built (and cached) by scripts/build-conformance.sh from the Go
module proxy; a failed build fails these tests, it never skips them.

* test_ginkgo_suite: the Ginkgo suite (the newest Ginkgo-based version the
  module proxy serves, a v1.1.x-era pseudo-version), all four workflow
  categories, with OCI_CROSSMOUNT_NAMESPACE set and OCI_AUTOMATIC_CROSSMOUNT=1
  (sealedreg's `auto_mount`; unset against an external target).
* test_main_harness: the current main-branch harness, default 1.1 profile.

Each test starts its own registry (`python -m sealedreg serve`), captures the
suite's output and reports under tmp_path, and asserts zero failures; the
assertion message lists every failing test with its error and the last HTTP
exchanges that led to it.

Environment knobs:
  SEALEDREG_CONFORMANCE_TARGET=http://127.0.0.1:5000
      run against an already-running registry instead of starting one
      (debugging: attach a debugger / watch logs of your own server).  Each
      run uses fresh repository names, so a long-lived registry can be reused.
  SEALEDREG_CONFORMANCE_OCI_VERSION=dev
      main harness profile ("1.1" by default; "dev" also requires upload
      cancel, Docker-Content-Digest headers and ?tag= params on manifest PUT).
  SEALEDREG_CONFORMANCE_STRICT=1
      also fail on features the suites report as missing (Ginkgo WARNINGs,
      main-harness Skip results, e.g. OCI-Filters-Applied not set).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from tests.helpers.conformance import (
    BuildError,
    ConformanceBinaries,
    SuiteResult,
    Target,
    build_conformance,
    run_ginkgo_suite,
    run_main_harness,
    target_from_url,
)
from tests.helpers.backends import BACKENDS, registry_on

pytestmark = pytest.mark.integration

TARGET_ENV = "SEALEDREG_CONFORMANCE_TARGET"
VERSION_ENV = "SEALEDREG_CONFORMANCE_OCI_VERSION"
STRICT_ENV = "SEALEDREG_CONFORMANCE_STRICT"


def _strict() -> bool:
    return os.environ.get(STRICT_ENV, "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def conformance_binaries() -> ConformanceBinaries:
    try:
        return build_conformance()
    except BuildError as e:
        pytest.fail(f"cannot build the conformance suites:\n{e}", pytrace=False)


@pytest.fixture(params=BACKENDS)
def conformance_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """A fresh sealedreg for this test, once per storage backend, or the
    registry named by SEALEDREG_CONFORMANCE_TARGET."""
    external = os.environ.get(TARGET_ENV, "").strip()
    if external:
        if request.param != BACKENDS[0]:
            pytest.skip("an external target is run once")
        yield target_from_url(external)
        return
    with registry_on(request.param, tmp_path) as (srv, _):
        yield target_from_url(srv.url)


def _check(result: SuiteResult, server_log: Path | None) -> None:
    strict = _strict()
    report = result.report(strict=strict)
    if server_log is not None and server_log.exists():
        report += f"\n\nregistry log: {server_log}"
    print(report)  # shown with -rA / -s, and kept in the junit of the pytest run
    assert result.ok, "\n" + report
    if strict:
        assert not result.warnings and not result.skipped, "\n[strict] " + report


def _server_log(tmp_path: Path) -> Path | None:
    logs = sorted((tmp_path).glob("sealedreg-*.log"))
    return logs[-1] if logs else None


def test_ginkgo_suite(conformance_binaries: ConformanceBinaries, conformance_target: Target,
                      tmp_path: Path) -> None:
    # A registry started here discovers blobs (`auto_mount`): the suite's mount without `from` must answer 201.
    automatic = {} if os.environ.get(TARGET_ENV, "").strip() else {"OCI_AUTOMATIC_CROSSMOUNT": "1"}
    result = run_ginkgo_suite(conformance_binaries.ginkgo, conformance_target, tmp_path / "ginkgo",
                              extra_env=automatic)
    _check(result, _server_log(tmp_path))


def test_main_harness(conformance_binaries: ConformanceBinaries, conformance_target: Target,
                      tmp_path: Path) -> None:
    result = run_main_harness(conformance_binaries.main, conformance_target, tmp_path / "main",
                              version=os.environ.get(VERSION_ENV) or None)
    _check(result, _server_log(tmp_path))


# Features the default profile leaves off and sealedreg implements: test them too.
OPTIONAL_APIS = {
    "OCI_API_BLOBS_UPLOAD_CANCEL": "true",
    "OCI_API_MANIFESTS_TAG_PARAM": "true",
    "OCI_API_BLOBS_DIGEST_HEADER": "true",
    "OCI_API_MANIFESTS_DIGEST_HEADER": "true",
}


def test_main_harness_optional_apis(conformance_binaries: ConformanceBinaries, conformance_target: Target,
                                    tmp_path: Path) -> None:
    result = run_main_harness(conformance_binaries.main, conformance_target, tmp_path / "main",
                              version=os.environ.get(VERSION_ENV) or None, extra_env=OPTIONAL_APIS)
    _check(result, _server_log(tmp_path))
    results = (result.workdir / "results" / "results.yaml").read_text()
    for api in ("Blob upload cancel", "Manifest put with tag params", "Tag Param", "Tag Param sha512"):
        assert f"{api}: Pass" in results, f"{api} was not tested and passed:\n{results}"
