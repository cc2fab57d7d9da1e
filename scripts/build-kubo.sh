#!/usr/bin/env bash
# Build Kubo (the reference IPFS node, `github.com/ipfs/kubo/cmd/ipfs`) into a
# cache dir, for the tests that check our UnixFS DAG builder against real
# `ipfs add --only-hash` CIDs and that run a real IPFS daemon on loopback.
#
# Kubo's go.mod carries `exclude` (and `replace`) directives, so
# `go install github.com/ipfs/kubo/cmd/ipfs@<version>` refuses to build it.
# Instead the pinned version is fetched with `go mod download` from the Go
# module proxy and built from a writable copy of its module dir with Kubo's
# own go.mod/go.sum, after the go.mod edits pinned below (GOMOD_EDITS).
#
# Cache: ${SEALEDREG_TOOLS_CACHE:-$HOME/.cache/sealedreg-tools}/kubo-<version>/ipfs
# Idempotent: a binary already built by the same recipe, whose `ipfs version`
# reports the pinned version, is reused (Go is then not even needed);
# SEALEDREG_KUBO_REBUILD=1 forces a rebuild.  Concurrent callers are
# serialised with flock.
#
# Prints the binary path on stdout.  Progress goes to stderr.
#
# Usage: scripts/build-kubo.sh
set -euo pipefail

# The newest stable Kubo the module proxy serves.  It has the `unixfs-v1-2025`
# import profile (IPIP-499; Kubo >= v0.40) that docs/format.md §3 pins.
KUBO_VERSION="v0.43.1"

# `go mod edit` arguments applied to Kubo's go.mod before building.
# v0.43.1 replaces go-libp2p with a fork at a pseudo-version the module proxy
# does not serve (github.com/lidel/go-libp2p, 403), only to get quic-go
# v0.62.0 / webtransport-go v0.13.0; its go.mod says "TODO: drop once a
# go-libp2p release requires quic-go >= v0.62.0 and webtransport-go >=
# v0.13.0".  go-libp2p v0.50.0 is that release, so do exactly that.  (The
# tests use TCP on loopback only; none of this touches UnixFS import.)
GOMOD_EDITS=(
  -dropreplace=github.com/libp2p/go-libp2p
  -require=github.com/libp2p/go-libp2p@v0.50.0
)

MODULE="github.com/ipfs/kubo"
# Bump when the build recipe below changes: a cached binary built by another
# recipe is rebuilt (the stamp file sits next to the binary).
BUILD_RECIPE="1:trimpath:go-libp2p@v0.50.0"
CACHE_ROOT="${SEALEDREG_TOOLS_CACHE:-${HOME:?HOME is unset: set SEALEDREG_TOOLS_CACHE}/.cache/sealedreg-tools}"

log() { printf 'build-kubo: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

case "${1:-}" in
  "") ;;
  -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
  *) die "unknown argument: $1" ;;
esac

GO_MIN=1.26
# shellcheck source=lib/go-module.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/go-module.sh"

# The version number `ipfs version` reports for a binary ("0.43.1"), or "".
binary_version() {
  "$1" version --number 2>/dev/null || true
}

# Work dirs to remove however the script ends.
CLEANUP=()
cleanup() {
  local d
  for d in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do rm -rf "${d}"; done
}
trap cleanup EXIT

out_dir="${CACHE_ROOT}/kubo-${KUBO_VERSION}"
bin="${out_dir}/ipfs"
stamp="${out_dir}/BUILD_STAMP"
want_stamp="${KUBO_VERSION} ${BUILD_RECIPE}"
want_number="${KUBO_VERSION#v}"

mkdir -p "${out_dir}"

# Serialise concurrent callers (e.g. parallel test sessions) on one lock, so a
# second caller waits and then finds the binary cached.
if command -v flock >/dev/null 2>&1; then
  exec 9>"${CACHE_ROOT}/.kubo-build.lock"
  flock 9
fi

if [[ -x "${bin}" && -f "${stamp}" && "$(cat "${stamp}")" == "${want_stamp}" \
      && "$(binary_version "${bin}")" == "${want_number}" \
      && "${SEALEDREG_KUBO_REBUILD:-0}" != 1 ]]; then
  log "kubo ${KUBO_VERSION}: cached at ${bin}"
  printf '%s\n' "${bin}"
  exit 0
fi

need_go
log "kubo ${KUBO_VERSION}: downloading ${MODULE}@${KUBO_VERSION}"
src="$(module_dir "${MODULE}@${KUBO_VERSION}")"

work="$(mktemp -d "${out_dir}/src.XXXXXX")"
CLEANUP+=("${work}")
writable_copy "${src}" "${work}"

log "kubo ${KUBO_VERSION}: building ./cmd/ipfs in ${work} (takes a few minutes on a fresh machine)"
tmp_bin="${bin}.tmp.$$"
(
  cd "${work}"
  if [[ ${#GOMOD_EDITS[@]} -gt 0 ]]; then
    "${GO}" mod edit "${GOMOD_EDITS[@]}"
  fi
  "${GO}" mod download
  # taggedRelease: like the upstream Makefile for a tagged, clean tree (the
  # agent version then carries no commit hash, which we do not have anyway).
  "${GO}" build -trimpath -o "${tmp_bin}" \
    -ldflags "-X ${MODULE}.taggedRelease=${KUBO_VERSION}" ./cmd/ipfs
) >&2 || { rm -f "${tmp_bin}"; die "kubo ${KUBO_VERSION}: build failed"; }

got="$(binary_version "${tmp_bin}")"
[[ "${got}" == "${want_number}" ]] || {
  rm -f "${tmp_bin}"
  die "kubo ${KUBO_VERSION}: built binary reports version '${got}', expected '${want_number}'"
}

mv -f "${tmp_bin}" "${bin}"   # atomic: a half-written binary is never cached
rm -rf "${work}"
printf '%s\n' "${want_stamp}" > "${stamp}"
log "kubo ${KUBO_VERSION}: built ${bin}"
printf '%s\n' "${bin}"
