"""Run real OCI clients (skopeo, podman) hermetically, as root, with no system config.

Everything a client reads or writes lives under one temp directory:

* config files: registries.conf (the target registry marked insecure), policy.json
  (insecureAcceptAnything), storage.conf (vfs driver, graphroot/runroot in the temp dir),
  containers.conf (cgroupfs, file events, temp dirs), an empty auth.json;
* HOME, XDG_* and TMPDIR point into the temp dir, and the environment is built from
  scratch (only PATH is inherited), so no DOCKER_CONFIG/REGISTRY_AUTH_FILE/CONTAINERS_*
  of the caller leaks in;
* as root, containers/image keeps its blob-info cache (which records where blobs were
  seen and drives cross-repository mounts) in /var/lib/containers/cache and reads
  drop-ins from /etc/containers/registries.conf.d no matter what flags say (skopeo 1.9 /
  podman 4.3). So, when possible, each command runs in a private mount namespace
  (`unshare --mount`) with temp dirs bind-mounted over /var/lib and /etc/containers.
  Nothing on the machine is read or written. Without unshare, skopeo is pointed at an
  XDG cache via `_CONTAINERS_ROOTLESS_UID` and podman's cache lands in /var/lib.

    sb = ClientSandbox(tmp_path / "clients", registry.address)
    sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:1.0", f"docker://{addr}/app:1.0")
    sb.podman("pull", "--tls-verify=false", f"{addr}/app:1.0")
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import pytest

# Debian package that provides each tool, for the failure message.
PACKAGES = {"skopeo": "skopeo", "podman": "podman", "buildah": "buildah", "unshare": "util-linux"}

MAX_SHOWN = 12_000  # characters of each stream shown in a failure message


def require_tool(name: str) -> str:
    """Path of `name`, or fail the test (never skip) saying how to install it."""
    path = shutil.which(name)
    if not path:
        pkg = PACKAGES.get(name, name)
        pytest.fail(f"required client `{name}` is not installed (apt-get install {pkg})", pytrace=False)
    return path


def _clip(text: str) -> str:
    if len(text) <= MAX_SHOWN:
        return text
    return f"[... {len(text) - MAX_SHOWN} chars cut ...]\n" + text[-MAX_SHOWN:]


def run(argv: Sequence[str], *, env: Mapping[str, str] | None = None, timeout: float = 600,
        check: bool = True, input: str | None = None, cwd: Path | str | None = None
        ) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing output. With `check`, a non-zero exit (or a timeout) raises an
    AssertionError showing the command, its exit code, stdout and stderr."""
    argv = [str(a) for a in argv]
    try:
        proc = subprocess.run(argv, env=None if env is None else dict(env), capture_output=True, text=True,
                              timeout=timeout, input=input, cwd=cwd, stdin=None if input is not None else subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise AssertionError(f"command timed out after {timeout}s: {shlex.join(argv)}\n"
                             f"--- stdout ---\n{_clip(out)}\n--- stderr ---\n{_clip(err)}") from None
    if check and proc.returncode != 0:
        raise AssertionError(f"command failed with exit code {proc.returncode}: {shlex.join(argv)}\n"
                             f"--- stdout ---\n{_clip(proc.stdout)}\n--- stderr ---\n{_clip(proc.stderr)}")
    return proc


@functools.cache
def mount_namespace_available() -> bool:
    """True when we are root and `unshare --mount` + bind mounts work here."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
                            "mount --bind /tmp /mnt && umount /mnt"], capture_output=True)
    return probe.returncode == 0


_REQUEST_RE = re.compile(r'msg="(GET|HEAD|PUT|POST|PATCH|DELETE) (https?://[^"\s]+)"')


@dataclass(frozen=True)
class Request:
    method: str
    url: str

    @property
    def path(self) -> str:
        return re.sub(r"^https?://[^/]+", "", self.url)


def debug_requests(stderr: str) -> list[Request]:
    """The HTTP requests a containers/image client logged with --debug / --log-level=debug."""
    return [Request(m, u) for m, u in _REQUEST_RE.findall(stderr)]


class ClientSandbox:
    """Config, storage and environment for skopeo/podman, all inside `root`."""

    def __init__(self, root: Path, *registries: str):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        # podman refuses a runroot path longer than 50 characters, so it lives in a short temp dir.
        base = tempfile.gettempdir()
        self.runroot = Path(tempfile.mkdtemp(prefix="sealedreg-rr-", dir=base if len(base) <= 24 else "/tmp"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, self.runroot, ignore_errors=True)
        for d in ("home", "config", "data", "cache", "run", "tmp", "graph", "certs",
                  "registries.d", "varlib", "etc-containers/registries.conf.d", "etc-containers/registries.d"):
            (self.root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "run", 0o700)
        self.registries_conf = self.root / "registries.conf"
        self.policy = self.root / "policy.json"
        self.storage_conf = self.root / "storage.conf"
        self.containers_conf = self.root / "containers.conf"
        self.authfile = self.root / "auth.json"
        self.certs = self.root / "certs"
        self.registries_d = self.root / "registries.d"
        self.tmp = self.root / "tmp"
        self.set_registries(*registries)
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        self.authfile.write_text(json.dumps({"auths": {}}))
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.root / "graph"}"\n'
            f'runroot = "{self.runroot}"\n'
        )
        self.containers_conf.write_text(
            "[containers]\n"
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.root / "events.log"}"\n'
            f'tmp_dir = "{self.root / "run" / "libpod"}"\n'
            f'image_copy_tmp_dir = "{self.tmp}"\n'
            f'static_dir = "{self.root / "graph" / "libpod"}"\n'
            f'volume_path = "{self.root / "graph" / "volumes"}"\n'
            "[network]\n"
            f'network_config_dir = "{self.root / "config" / "networks"}"\n'
        )
        # What /etc/containers looks like inside the private mount namespace.
        etc = self.root / "etc-containers"
        for f in (self.registries_conf, self.policy, self.storage_conf):
            shutil.copyfile(f, etc / f.name)
        self.use_namespace = mount_namespace_available()

    def close(self) -> None:
        """Remove the runroot (outside `root`); the rest goes with `root`."""
        self._cleanup()

    def __enter__(self) -> "ClientSandbox":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def set_registries(self, *addresses: str) -> None:
        """Mark these host:port registries insecure (plain HTTP) in registries.conf."""
        text = 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n'
        for a in addresses:
            text += f'\n[[registry]]\nlocation = "{a}"\ninsecure = true\n'
        self.registries_conf.write_text(text)
        etc = self.root / "etc-containers"
        if etc.exists():
            shutil.copyfile(self.registries_conf, etc / "registries.conf")

    def env(self, tool: str) -> dict[str, str]:
        r = self.root
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"),
            "LANG": "C.UTF-8",
            "HOME": str(r / "home"),
            "XDG_CONFIG_HOME": str(r / "config"),
            "XDG_DATA_HOME": str(r / "data"),
            "XDG_CACHE_HOME": str(r / "cache"),
            "XDG_RUNTIME_DIR": str(r / "run"),
            "TMPDIR": str(self.tmp),
            "REGISTRY_AUTH_FILE": str(self.authfile),
            "DOCKER_CONFIG": str(r / "home" / ".docker"),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "REGISTRIES_CONFIG_PATH": str(self.registries_conf),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "CONTAINERS_CONF": str(self.containers_conf),
        }
        if tool == "skopeo" and not self.use_namespace and os.geteuid() == 0:
            # containers/image then keeps its blob-info cache under XDG_DATA_HOME, not /var/lib.
            env["_CONTAINERS_ROOTLESS_UID"] = "1000"
        return env

    def _wrap(self, argv: list[str]) -> list[str]:
        if not self.use_namespace:
            return argv
        script = ('mount --bind "$SB_VARLIB" /var/lib || exit 97; '
                  'if [ -d /etc/containers ]; then mount --bind "$SB_ETC" /etc/containers || exit 97; fi; '
                  'exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "--", "env",
                f"SB_VARLIB={self.root / 'varlib'}", f"SB_ETC={self.root / 'etc-containers'}",
                "sh", "-c", script, "sh", *argv]

    def skopeo(self, *args: str, global_args: Sequence[str] = (), check: bool = True, debug: bool = True,
               timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`skopeo [isolation flags] GLOBAL_ARGS SUBCOMMAND [isolation flags] ARGS...`; args[0] is the
        subcommand. Command-level flags (--authfile, cert dirs) are added for the subcommands that
        take them. With `debug`, stderr has the HTTP requests (see `debug_requests`)."""
        exe = require_tool("skopeo")
        args = [str(a) for a in args]
        glob = ["--registries-conf", str(self.registries_conf), "--registries.d", str(self.registries_d),
                "--policy", str(self.policy), "--tmpdir", str(self.tmp)]
        if debug:
            glob.append("--debug")
        glob += [str(a) for a in global_args]
        sub, rest = args[0], args[1:]
        extra: list[str] = []
        if sub == "copy":
            extra = ["--authfile", str(self.authfile), "--src-cert-dir", str(self.certs),
                     "--dest-cert-dir", str(self.certs)]
        elif sub in ("inspect", "delete", "list-tags", "login"):
            extra = ["--authfile", str(self.authfile), "--cert-dir", str(self.certs)]
        elif sub == "logout":
            extra = ["--authfile", str(self.authfile)]
        return run(self._wrap([exe, *glob, sub, *extra, *rest]), env=self.env("skopeo"), check=check,
                   timeout=timeout, input=input)

    def podman(self, *args: str, check: bool = True, debug: bool = False, timeout: float = 600,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        """`podman [isolation flags] ARGS`; pull/push get the temp signature policy and authfile."""
        exe = require_tool("podman")
        args = [str(a) for a in args]
        glob = ["--root", str(self.root / "graph"), "--runroot", str(self.runroot),
                "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--tmpdir", str(self.root / "run" / "libpod")]
        if debug:
            glob.append("--log-level=debug")
        sub, rest = args[0], args[1:]
        extra: list[str] = []
        if sub in ("pull", "push"):
            extra = ["--signature-policy", str(self.policy), "--authfile", str(self.authfile),
                     "--cert-dir", str(self.certs)]
        elif sub == "login":
            extra = ["--authfile", str(self.authfile), "--cert-dir", str(self.certs)]
        elif sub == "logout":
            extra = ["--authfile", str(self.authfile)]
        return run(self._wrap([exe, *glob, sub, *extra, *rest]), env=self.env("podman"), check=check,
                   timeout=timeout, input=input)

    def login(self, tool: str, registry: str, user: str, password: str, check: bool = True
              ) -> subprocess.CompletedProcess[str]:
        """`skopeo login` / `podman login` to `registry` (host:port, plain HTTP), the
        password on standard input; the credentials land in this sandbox's authfile."""
        argv = ("login", "--tls-verify=false", "--username", user, "--password-stdin", registry)
        if tool == "skopeo":
            return self.skopeo(*argv, check=check, debug=False, input=password + "\n")
        if tool == "podman":
            return self.podman(*argv, check=check, input=password + "\n")
        raise ValueError(f"no login for {tool}")
