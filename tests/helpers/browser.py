"""Headless Chromium for tests of the browse page: the rendered DOM and a screenshot.

Each call is one `chromium --headless` run with its own throwaway profile
(`--user-data-dir` under the caller's temp dir) and `--no-sandbox` (tests
run as root). Credentials go in the URL (`http://user:pass@host/ui/?login=1`):
Chromium sends them after the page's 401 Basic challenge. Chromium's stderr
is noise and is ignored; only a failure to produce output fails the test.

    dom = dump_dom(f"{url}/ui/", tmp_path)
    png = screenshot(with_credentials(f"{url}/ui/?login=1", "alice", pw), tmp_path / "alice.png", tmp_path)
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest

CHROMIUM = "chromium"
TIMEOUT = 120.0


def require_chromium() -> str:
    """The Chromium binary, or fail (never skip) saying how to install it."""
    path = shutil.which(CHROMIUM)
    if not path:
        pytest.fail("required browser `chromium` is not installed (apt-get install chromium)", pytrace=False)
    return path


def with_credentials(url: str, user: str, password: str) -> str:
    """`url` with `user:password@` in its authority (each part percent-encoded)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{quote(user, safe='')}:{quote(password, safe='')}@{parts.netloc}"))


def _run(args: list[str], scratch: Path) -> subprocess.CompletedProcess[str]:
    scratch.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=scratch)
    argv = [require_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-sync",
            "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"chromium did not finish within {TIMEOUT}s: {argv}") from exc
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def dump_dom(url: str, scratch: Path, loads: bool = True) -> str:
    """The DOM of `url` after Chromium rendered it, serialised as HTML. With
    `loads=False` a page that fails to load (Chromium gives up on credentials
    refused again: `ERR_INVALID_AUTH_CREDENTIALS`) is no error: whatever
    Chromium printed is returned, often nothing."""
    proc = _run(["--dump-dom", url], scratch)
    if loads and "<html" not in proc.stdout:
        raise AssertionError(f"chromium printed no DOM for {url} (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def screenshot(url: str, path: Path, scratch: Path, size: tuple[int, int] = (1280, 1400)) -> Path:
    """A PNG of `url` as rendered in a `size` window, written to `path`."""
    proc = _run([f"--screenshot={path}", f"--window-size={size[0]},{size[1]}", url], scratch)
    if not path.is_file() or path.stat().st_size == 0:
        raise AssertionError(f"chromium wrote no screenshot of {url} (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return path
