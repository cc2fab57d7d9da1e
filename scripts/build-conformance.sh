#!/usr/bin/env bash
# Build the two OCI distribution-spec conformance suites into a cache dir.
#
#   * the Ginkgo suite (a `go test -c` binary), configured by OCI_ROOT_URL,
#     OCI_NAMESPACE, OCI_TEST_PULL=1, ...;
#   * the current main-branch harness (a `main` program), configured by
#     OCI_REGISTRY, OCI_TLS, OCI_RESULTS_DIR, ...
#
# Sources come only from the Go module proxy (`go mod download` of the pinned
# pseudo-versions below); each is built from a writable copy of its module dir
# (the module cache is read-only) with its own go.mod/go.sum.
#
# Cache: ${SEALEDREG_TOOLS_CACHE:-$HOME/.cache/sealedreg-tools}/conformance-<version>/
# Idempotent: a binary already built by the same recipe is reused (Go is then
# not even needed); SEALEDREG_CONFORMANCE_REBUILD=1 forces a rebuild.
# Concurrent callers are serialised with flock.
#
# Prints the binary paths on stdout, one per line: the Ginkgo suite first,
# then the main harness.  Progress goes to stderr.
#
# Usage: scripts/build-conformance.sh [--ginkgo-only|--main-only]
set -euo pipefail

# The newest Ginkgo-based suite the module proxy serves (the v1.1.x-era suite).
GINKGO_SUITE_VERSION="v0.0.0-20231101194043-f2182352d4cc"
# The current main-branch harness (results.yaml / junit.xml / report.html).
MAIN_HARNESS_VERSION="v0.0.0-20260831232431-97274622c111"

MODULE="github.com/opencontainers/distribution-spec/conformance"
# Bump when the build recipe below changes: cached binaries built by another
# recipe are rebuilt (the stamp file sits next to each binary).
BUILD_RECIPE="2:trimpath"
CACHE_ROOT="${SEALEDREG_TOOLS_CACHE:-${HOME:?HOME is unset: set SEALEDREG_TOOLS_CACHE}/.cache/sealedreg-tools}"

log() { printf 'build-conformance: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

want_ginkgo=1
want_main=1
case "${1:-}" in
  "") ;;
  --ginkgo-only) want_main=0 ;;
  --main-only) want_ginkgo=0 ;;
  -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) die "unknown argument: $1" ;;
esac

GO_MIN=1.24
# shellcheck source=lib/go-module.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-module.sh"

build_one() {
  # $1 kind (ginkgo|main)  $2 version  -> prints the binary path
  local kind="$1" version="$2"
  local out_dir="${CACHE_ROOT}/conformance-${version}"
  local bin
  if [[ "${kind}" == ginkgo ]]; then bin="${out_dir}/conformance.test"; else bin="${out_dir}/conformance"; fi

  local stamp="${out_dir}/BUILD_STAMP.${kind}"
  local want_stamp="${version} ${BUILD_RECIPE}"
  if [[ -x "${bin}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want_stamp}" \
        && "${SEALEDREG_CONFORMANCE_REBUILD:-0}" != 1 ]]; then
    log "${kind} suite ${version}: cached at ${bin}"
    printf '%s\n' "${bin}"
    return 0
  fi

  need_go
  mkdir -p "${out_dir}"
  log "${kind} suite ${version}: downloading ${MODULE}@${version}"
  local src
  src="$(module_dir "${MODULE}@${version}")"

  local work
  work="$(mktemp -d "${out_dir}/src.XXXXXX")"
  CLEANUP+=("${work}")
  writable_copy "${src}" "${work}"

  log "${kind} suite ${version}: building in ${work}"
  local tmp_bin="${bin}.tmp.$$"
  (
    cd "${work}"
    "${GO}" mod download
    if [[ "${kind}" == ginkgo ]]; then
      # The Ginkgo suite lives in _test.go files: build its test binary.
      # -trimpath: failure locations read "<module>/02_push_test.go:182".
      "${GO}" test -c -trimpath -o "${tmp_bin}" \
        -ldflags "-X ${MODULE}.Version=${version}" .
    else
      "${GO}" build -trimpath -o "${tmp_bin}" .
    fi
  ) >&2 || { rm -f "${tmp_bin}"; die "${kind} suite ${version}: build failed"; }

  mv -f "${tmp_bin}" "${bin}"   # atomic: a half-written binary is never cached
  rm -rf "${work}"
  printf '%s\n' "${want_stamp}" > "${stamp}"
  log "${kind} suite ${version}: built ${bin}"
  printf '%s\n' "${bin}"
}

# Work dirs to remove however the script ends.
CLEANUP=()
cleanup() {
  local d
  for d in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do rm -rf "${d}"; done
}
trap cleanup EXIT

mkdir -p "${CACHE_ROOT}"

# Serialise concurrent callers (e.g. parallel test sessions) on one lock, so a
# second caller waits and then finds the binaries cached.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${CACHE_ROOT}/.conformance-build.lock"
  flock 9
fi

if [[ "${want_ginkgo}" == 1 ]]; then build_one ginkgo "${GINKGO_SUITE_VERSION}"; fi
if [[ "${want_main}" == 1 ]]; then build_one main "${MAIN_HARNESS_VERSION}"; fi
