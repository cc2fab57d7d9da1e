# Shared by scripts/build-*.sh: build a Go program from a module fetched
# through the Go module proxy (never `go install pkg@version`, which refuses
# modules whose go.mod has replace/exclude lines). Source it after defining
# log() and die(); set GO_MIN to the lowest Go version the module accepts.

# Find a Go toolchain (only needed when something has to be built): $GO, then
# PATH, then the usual install location.  A Go older than the module's `go`
# directive fetches the newer toolchain through the module proxy (GOTOOLCHAIN).
GO="${GO:-}"
need_go() {
  if [[ -z "${GO}" ]]; then
    if command -v go >/dev/null 2>&1; then
      GO="$(command -v go)"
    elif [[ -x /usr/local/go/bin/go ]]; then
      GO=/usr/local/go/bin/go
    else
      die "no Go toolchain found (install Go >= ${GO_MIN:-1.26} or set GO=/path/to/go)"
    fi
  fi
  "${GO}" version >&2 || die "${GO} does not run"
}

# Module-aware mode, sources from the module proxy only; an inherited GOFLAGS
# such as -mod=vendor must not leak into these builds.  CGO is not needed.
export GO111MODULE=on
export GOFLAGS="-mod=mod -buildvcs=false"
export CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export GOWORK=off

# Download module@version and print its (read-only) directory in the module cache.
module_dir() {
  local modver="$1" json dir
  # Run outside any enclosing module so `go mod download` is a plain fetch.
  if ! json="$(cd / && "${GO}" mod download -json "${modver}")"; then
    log "${json:-}"
    die "go mod download ${modver} failed"
  fi
  dir="$(printf '%s\n' "${json}" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n1)"
  [[ -n "${dir}" && -d "${dir}" ]] || die "no module dir for ${modver} in: ${json}"
  printf '%s\n' "${dir}"
}

# Copy a module dir to a fresh writable work dir (the module cache is read-only).
writable_copy() {
  local src="$1" dst="$2"
  rm -rf "${dst}"
  mkdir -p "${dst}"
  cp -R "${src}/." "${dst}/"
  chmod -R u+w "${dst}"
}
