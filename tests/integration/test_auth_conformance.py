"""The OCI conformance suites with auth on: every request the suite makes goes
through the 401 challenge → /token (Basic, OCI_USERNAME/OCI_PASSWORD) →
Bearer retry, or through Basic auth in basic mode; all must still pass.

The conformance user may do everything; its ACL is the default one. The
binaries are built (and cached) by scripts/build-conformance.sh, as for
tests/integration/test_conformance.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.auth import new_password, run_auth_registry
from tests.helpers.conformance import BuildError, ConformanceBinaries, build_conformance, run_ginkgo_suite, \
    run_main_harness, target_from_url

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def binaries() -> ConformanceBinaries:
    try:
        return build_conformance()
    except BuildError as e:
        pytest.fail(f"cannot build the conformance suites:\n{e}", pytrace=False)


def _check(result, log: Path) -> None:
    report = result.report() + f"\n\nregistry log: {log}"
    print(report)
    assert result.ok, "\n" + report


@pytest.mark.parametrize("mode", ["token", "basic"])
def test_ginkgo_suite_with_auth(binaries, tmp_path, mode):
    password = new_password()
    with run_auth_registry(tmp_path, {"conformance": password}, mode=mode) as reg:
        result = run_ginkgo_suite(binaries.ginkgo, target_from_url(reg.url), tmp_path / "ginkgo",
                                  extra_env={"OCI_USERNAME": "conformance", "OCI_PASSWORD": password,
                                             # a token names only the repository pushed to, so a mount
                                             # without `from` finds nothing; a user's password reaches all
                                             "OCI_AUTOMATIC_CROSSMOUNT": "0" if mode == "token" else "1"})
        log = reg.log
    _check(result, log)
    text = log.read_text()
    assert password not in text
    if mode == "token":
        assert "token issued to conformance" in text  # the suite really went through the token service


def test_main_harness_with_token_auth(binaries, tmp_path):
    password = new_password()
    with run_auth_registry(tmp_path, {"conformance": password}) as reg:
        result = run_main_harness(binaries.main, target_from_url(reg.url), tmp_path / "main",
                                  extra_env={"OCI_USERNAME": "conformance", "OCI_PASSWORD": password})
        log = reg.log
    _check(result, log)
    assert password not in log.read_text()
