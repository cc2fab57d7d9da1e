"""Build and run the OCI distribution-spec conformance suites, and turn their
reports into failure messages a developer can act on.

Two suites, both built by `scripts/build-conformance.sh` from the Go module
proxy (see that script for the pinned versions):

* the Ginkgo suite (a `go test -c` binary): env OCI_ROOT_URL, OCI_NAMESPACE,
  OCI_CROSSMOUNT_NAMESPACE, OCI_TEST_{PULL,PUSH,CONTENT_DISCOVERY,
  CONTENT_MANAGEMENT}=1; writes junit.xml + report.html to OCI_REPORT_DIR;
* the main-branch harness (a `main` program): env OCI_REGISTRY, OCI_TLS,
  OCI_REPO1/OCI_REPO2, OCI_RESULTS_DIR, OCI_VERSION; writes results.yaml,
  junit.xml and report.html to OCI_RESULTS_DIR and exits 1 on any failure.

Every run gets a clean environment: all inherited OCI_* variables are dropped
(the main harness also honours the Ginkgo suite's legacy variables, so they
must never leak from one suite into the other), and each suite runs in its
own work directory (the main harness reads ./oci-conformance.yaml if present).
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "scripts" / "build-conformance.sh"

BUILD_TIMEOUT = 1800.0   # a fresh machine downloads the Go deps first
SUITE_TIMEOUT = 1200.0   # the main harness sends ~1000 requests incl. a 3.9 MB manifest

# Failure details shown per failing test, and how many failing tests get details.
EXCERPT_CHARS = 2500
MAX_DETAILED = 40


# --------------------------------------------------------------------------- build


@dataclass(frozen=True)
class ConformanceBinaries:
    ginkgo: Path   # the Ginkgo suite's test binary
    main: Path     # the main-branch harness


class BuildError(RuntimeError):
    pass


def build_conformance(timeout: float = BUILD_TIMEOUT) -> ConformanceBinaries:
    """Run scripts/build-conformance.sh (a no-op when cached); return the binaries."""
    try:
        proc = subprocess.run(["bash", str(BUILD_SCRIPT)], capture_output=True, text=True,
                              timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{BUILD_SCRIPT} did not finish in {timeout:.0f}s:\n"
                         f"{_tail(_as_text(e.stderr), 6000)}") from e
    if proc.returncode != 0:
        raise BuildError(f"{BUILD_SCRIPT} failed (exit {proc.returncode}):\n"
                         f"{_tail(proc.stderr, 6000)}")
    paths = [line.strip() for line in proc.stdout.splitlines() if line.strip()]
    if len(paths) < 2:
        raise BuildError(f"{BUILD_SCRIPT} printed {paths!r}, expected two binary paths\n"
                         f"{_tail(proc.stderr, 3000)}")
    bins = ConformanceBinaries(Path(paths[-2]), Path(paths[-1]))
    for p in (bins.ginkgo, bins.main):
        if not (p.is_file() and os.access(p, os.X_OK)):
            raise BuildError(f"{BUILD_SCRIPT} reported {p}, which is not an executable file")
    return bins


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A registry to test: base URL (scheme://host:port) and the host:port form."""
    url: str

    @property
    def address(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme or "http"


def target_from_url(url: str) -> Target:
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not a registry URL: {url!r} (want http://host:port)")
    return Target(f"{parts.scheme}://{parts.netloc}")


def unique_repo_prefix() -> str:
    """A fresh repository namespace, so runs never see each other's content
    (matters when pointing the suites at a long-running registry)."""
    return f"conformance/run-{uuid.uuid4().hex[:10]}"


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("OCI_")}
    # loopback never goes through a proxy (Go skips it too; be explicit)
    no_proxy = ",".join(filter(None, [env.get("NO_PROXY", ""), "127.0.0.1,localhost,::1"]))
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    env.update(extra)
    return env


# --------------------------------------------------------------------------- results


@dataclass
class Failure:
    name: str
    message: str            # the assertion / error text
    excerpt: str = ""       # the HTTP exchange(s) leading to it
    count: int = 1          # identical (name, message) failures folded together


@dataclass
class SuiteResult:
    suite: str
    target: str
    returncode: int
    workdir: Path
    output_log: Path
    report_files: list[Path]
    tests: int = 0
    failures: list[Failure] = field(default_factory=list)
    failure_count: int = 0          # as counted by the suite itself
    error_count: int = 0
    skipped: list[str] = field(default_factory=list)   # names of skipped / unsupported items
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)     # extra summary lines

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failure_count == 0 and self.error_count == 0 \
            and not self.failures

    def report(self, strict: bool = False) -> str:
        """A human-readable account of what failed, for assertion messages."""
        lines = [f"{self.suite} against {self.target}: exit {self.returncode}, "
                 f"{self.failure_count} failed, {self.error_count} errors, "
                 f"{len(self.skipped)} skipped/unsupported, of {self.tests} checks"]
        lines.append(f"  work dir: {self.workdir}")
        lines.append(f"  output:   {self.output_log}")
        for p in self.report_files:
            lines.append(f"  report:   {p}")
        lines += [f"  {n}" for n in self.notes]
        if self.failures:
            lines.append("")
            lines.append(f"Failing tests ({sum(f.count for f in self.failures)}):")
            for f in self.failures:
                lines.append(f"  FAIL {f.name}" + (f"  (x{f.count})" if f.count > 1 else ""))
            lines.append("")
            lines.append("Details:")
            for f in self.failures[:MAX_DETAILED]:
                lines.append(f"--- FAIL {f.name}" + (f"  (x{f.count})" if f.count > 1 else ""))
                lines.append(_indent(f.message.strip(), "    "))
                if f.excerpt.strip():
                    lines.append("    last HTTP exchange(s):")
                    lines.append(_indent(f.excerpt.strip(), "      "))
            if len(self.failures) > MAX_DETAILED:
                lines.append(f"... {len(self.failures) - MAX_DETAILED} more failing tests: "
                             f"see {self.report_files[0] if self.report_files else self.output_log}")
        elif not self.ok:
            lines.append("")
            lines.append("The suite did not pass but no failing test could be parsed; output tail:")
            lines.append(_indent(_tail(_read(self.output_log), 6000), "    "))
        if self.warnings:
            lines.append("")
            lines.append("Warnings (features the suite found missing):" + (" [strict]" if strict else ""))
            lines += [f"  {w}" for w in self.warnings]
        if self.skipped:
            lines.append("")
            lines.append("Skipped / unsupported:" + (" [strict]" if strict else ""))
            lines += [f"  {s}" for s in self.skipped]
        return "\n".join(lines)


# --------------------------------------------------------------------------- Ginkgo suite

GINKGO_CATEGORIES = ("OCI_TEST_PULL", "OCI_TEST_PUSH", "OCI_TEST_CONTENT_DISCOVERY",
                     "OCI_TEST_CONTENT_MANAGEMENT")
_GINKGO_FAILED_STATES = {"failed", "panicked", "interrupted", "aborted", "timedout"}
_GINKGO_SEPARATOR = re.compile(r"^-{30}\s*$", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run_ginkgo_suite(binary: Path, target: Target, workdir: Path, namespace: str | None = None,
                     crossmount_namespace: str | None = None, debug: bool = True,
                     timeout: float = SUITE_TIMEOUT, extra_env: dict[str, str] | None = None) -> SuiteResult:
    """Run all four workflow categories of the Ginkgo suite against `target`.

    OCI_CROSSMOUNT_NAMESPACE is set; OCI_AUTOMATIC_CROSSMOUNT only if the
    caller passes it in `extra_env` (unset, the two "automatic content
    discovery" mount specs are skipped).  OCI_DEBUG=1 puts every request and
    response in the output log, which the failure excerpts are cut from.
    `extra_env` adds variables, e.g. OCI_USERNAME / OCI_PASSWORD for a
    registry with auth on."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = unique_repo_prefix()
    namespace = namespace or f"{prefix}/ginkgo"
    crossmount_namespace = crossmount_namespace or f"{prefix}/ginkgo-crossmount"
    env = clean_env({
        "OCI_ROOT_URL": target.url,
        "OCI_NAMESPACE": namespace,
        "OCI_CROSSMOUNT_NAMESPACE": crossmount_namespace,
        "OCI_REPORT_DIR": str(workdir),
        "OCI_DEBUG": "1" if debug else "0",
        **{k: "1" for k in GINKGO_CATEGORIES},
        **(extra_env or {}),
    })
    out = workdir / "output.log"
    argv = [str(binary), "-ginkgo.v", "-ginkgo.no-color", f"-ginkgo.timeout={int(timeout)}s"]
    rc = _run(argv, env, workdir, out, timeout)
    junit = workdir / "junit.xml"
    res = SuiteResult(suite=f"OCI conformance, Ginkgo suite ({binary.parent.name})",
                      target=f"{target.url} (namespace {namespace}, crossmount {crossmount_namespace})",
                      returncode=rc, workdir=workdir, output_log=out,
                      report_files=[p for p in (junit, workdir / "report.html") if p.exists()])
    text = _ANSI.sub("", _read(out))
    res.warnings = _ginkgo_warnings(text)
    if not junit.exists():
        res.error_count = 1
        res.notes.append("junit.xml was not written: the suite did not run to its end")
        return res
    blocks = _GINKGO_SEPARATOR.split(text)
    skipped = 0
    root = ET.parse(junit).getroot()
    res.tests = int(root.get("tests", "0"))
    res.failure_count = int(root.get("failures", "0"))
    res.error_count = int(root.get("errors", "0"))
    for tc in root.iter("testcase"):
        name = _ginkgo_name(tc.get("name", "?"))
        status = (tc.get("status") or "").lower()
        fail = tc.find("failure")
        err = tc.find("error")
        if status in _GINKGO_FAILED_STATES or fail is not None or err is not None:
            node = fail if fail is not None else err
            msg = ""
            if node is not None:
                msg = (node.text or node.get("message") or "").strip()
            res.failures.append(Failure(name, msg or status, _ginkgo_excerpt(blocks, name)))
        elif status == "skipped" or tc.find("skipped") is not None:
            # Ginkgo skips are decided by configuration or by an earlier answer
            # (e.g. a 201 mount skips the 202 follow-up); a missing feature is
            # reported as a WARNING instead, so skips are only counted here.
            skipped += 1
    res.notes.append(f"{skipped} specs skipped by the suite's configuration / earlier answers")
    res.failures = _fold(res.failures)
    if res.failures and res.failure_count == 0:
        res.failure_count = len(res.failures)
    return res


def _ginkgo_name(junit_name: str) -> str:
    # "[It] OCI Distribution Conformance Tests Push Blob Upload ... should return 416"
    name = re.sub(r"^\[\w+\]\s*", "", junit_name)
    return name.replace("OCI Distribution Conformance Tests ", "", 1)


def _ginkgo_warnings(text: str) -> list[str]:
    warns = []
    for m in re.finditer(r"WARNING: (.+)", text):
        w = m.group(1).strip()
        if w not in warns:
            warns.append(w)
    return warns


def _ginkgo_excerpt(blocks: list[str], name: str) -> str:
    """The HTTP exchanges printed (OCI_DEBUG=1, -ginkgo.v) while the spec ran."""
    leaf = name.split(" ")[-6:]  # the spec text's tail is distinctive enough
    needle = " ".join(leaf)
    for b in blocks:
        if needle in b and "[FAILED]" in b:
            body = b.split("  [FAILED]", 1)[0]
            exchanges = [e for e in re.split(r"^DEBUG\s*$", body, flags=re.M) if "~~~ REQUEST ~~~" in e]
            shown = "\n".join(_squeeze(e) for e in exchanges[-2:])
            return _tail(shown, EXCERPT_CHARS)
    return ""


# --------------------------------------------------------------------------- main harness

_STATUS_LINE = re.compile(r"^\s{2}(.+?):\s+(Pass|FAIL|Skip|Disabled|Error|Unknown)\s*$")
_TREE_LINE = re.compile(r"^(\s*)(OCI Conformance Test(?:/.*)?): (Pass|FAIL|Skip|Disabled|Error|Unknown)\s*$")


def run_main_harness(binary: Path, target: Target, workdir: Path, repo1: str | None = None,
                     repo2: str | None = None, version: str | None = None,
                     extra_env: dict[str, str] | None = None,
                     timeout: float = SUITE_TIMEOUT) -> SuiteResult:
    """Run the main-branch harness with its default profile (OCI_VERSION=1.1
    unless `version` says otherwise: "1.1", "dev" or "1.0")."""
    workdir.mkdir(parents=True, exist_ok=True)
    prefix = unique_repo_prefix()
    repo1 = repo1 or f"{prefix}/repo1"
    repo2 = repo2 or f"{prefix}/repo2"
    results_dir = workdir / "results"
    tls = "disabled" if target.scheme == "http" else "insecure"
    env = clean_env({
        "OCI_REGISTRY": target.address,
        "OCI_TLS": tls,
        "OCI_REPO1": repo1,
        "OCI_REPO2": repo2,
        "OCI_RESULTS_DIR": str(results_dir),
        "OCI_VERSION": version or "1.1",
        "OCI_LOG": "warn",
        **(extra_env or {}),
    })
    out = workdir / "output.log"
    rc = _run([str(binary)], env, workdir, out, timeout)
    junit = results_dir / "junit.xml"
    results_yaml = results_dir / "results.yaml"
    res = SuiteResult(suite=f"OCI conformance, main harness ({binary.parent.name}, "
                            f"profile {env['OCI_VERSION']})",
                      target=f"{target.url} (repo1 {repo1}, repo2 {repo2}, OCI_TLS={tls})",
                      returncode=rc, workdir=workdir, output_log=out,
                      report_files=[p for p in (junit, results_yaml, results_dir / "report.html")
                                    if p.exists()])
    text = _read(out)
    if not junit.exists():
        res.error_count = 1
        res.notes.append("junit.xml was not written: the harness did not run to its end")
        return res
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    counts = suite if suite is not None else root
    res.tests = int(counts.get("tests", "0"))
    res.failure_count = int(counts.get("failures", "0"))
    res.error_count = int(counts.get("errors", "0"))
    for tc in root.iter("testcase"):
        status = (tc.get("status") or "").lower()
        if status in ("failure", "error"):
            res.failures.append(Failure(
                tc.get("name", "?") + (" [engine error]" if status == "error" else ""),
                (tc.findtext("system-out") or "").strip() or status,
                _main_excerpt(tc.findtext("system-err") or "")))
    res.failures = _fold(res.failures)
    # failures recorded on inner nodes of the result tree never reach junit.xml
    # (it lists leaves only): pick them out of the printed tree
    leafs = {f.name for f in res.failures}
    for name, status in _main_tree(text):
        if status in ("FAIL", "Error") and name not in leafs and not any(
                l.startswith(name + "/") for l in leafs):
            res.failures.append(Failure(name, f"{status} (inner node, see {out})"))
    apis, data = _main_results_yaml(results_yaml)
    failed_apis = [k for k, v in apis.items() if v in ("FAIL", "Error")]
    failed_data = [k for k, v in data.items() if v in ("FAIL", "Error")]
    if failed_apis:
        res.notes.append("failed APIs (results.yaml): " + ", ".join(failed_apis))
    if failed_data:
        res.notes.append("failed data sets (results.yaml): " + ", ".join(failed_data))
    res.skipped = [f"API {k}: Skip" for k, v in apis.items() if v == "Skip"] + \
                  [f"data {k}: Skip" for k, v in data.items() if v == "Skip"]
    reasons: dict[str, int] = {}
    for n, msg in _main_skip_reasons(text):
        key = f"{n}: {_normalize(msg)}"
        reasons[key] = reasons.get(key, 0) + 1
    res.skipped += [k + (f"  (x{c})" if c > 1 else "") for k, c in reasons.items()]
    return res


def _main_results_yaml(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The `apis:` and `data:` maps of results.yaml (flat `  Name: Status` lines)."""
    apis: dict[str, str] = {}
    data: dict[str, str] = {}
    section = None
    for line in _read(path).splitlines():
        if re.match(r"^\S", line):
            section = {"apis:": apis, "data:": data}.get(line.strip())
            continue
        m = _STATUS_LINE.match(line)
        if section is not None and m and not line.startswith("   "):
            section[m.group(1)] = m.group(2)
    return apis, data


def _main_tree(text: str) -> list[tuple[str, str]]:
    out = []
    for line in text.split("Configuration:", 1)[0].splitlines():
        m = _TREE_LINE.match(line)
        if m:
            out.append((m.group(2), m.group(3)))
    return out


def _main_skip_reasons(text: str) -> list[tuple[str, str]]:
    """Leaf results printed as Skip, with the reason line that follows them."""
    lines = text.split("Configuration:", 1)[0].splitlines()
    found = []
    for i, line in enumerate(lines):
        m = _TREE_LINE.match(line)
        if m and m.group(3) == "Skip":
            reason = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if reason.startswith("- "):
                found.append((m.group(2), reason[2:]))
    return found


def _main_excerpt(system_err: str) -> str:
    exchanges = [e for e in re.split(r"^={80}\s*$", system_err, flags=re.M) if "~~~ REQUEST ~~~" in e]
    return _tail("\n".join(_squeeze(e) for e in exchanges[-2:]), EXCERPT_CHARS)


# --------------------------------------------------------------------------- utilities


def _run(argv: list[str], env: dict[str, str], cwd: Path, out: Path, timeout: float) -> int:
    with open(out, "wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            f.write(f"\n*** killed after {timeout:.0f}s ***\n".encode())
            return -9


_DIGEST = re.compile(r"\b(sha256|sha384|sha512):[0-9a-f]{16,}")


def _normalize(msg: str) -> str:
    """A message with its digests elided, to fold repeats of one failure."""
    return _DIGEST.sub(r"\1:<digest>", msg)


def _fold(failures: list[Failure]) -> list[Failure]:
    folded: dict[tuple[str, str], Failure] = {}
    for f in failures:
        key = (f.name, _normalize(f.message))
        if key in folded:
            folded[key].count += 1
        else:
            folded[key] = f
    return list(folded.values())


_NOISE = re.compile(r"^\s*(PROTO|RECEIVED AT|TIME DURATION|HOST)\s*:|^\s*[-=]{20,}\s*$")


def _squeeze(exchange: str) -> str:
    lines = [l.rstrip() for l in exchange.strip("\n").splitlines()]
    return "\n".join(l for l in lines if l.strip() and not _NOISE.match(l))


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _as_text(b: bytes | str | None) -> str:
    if b is None:
        return ""
    return b.decode(errors="replace") if isinstance(b, bytes) else b


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "...\n" + text[-n:]


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + l for l in text.splitlines())
