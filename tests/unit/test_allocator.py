"""glibc's allocator settings for the server (sealedreg/allocator.py)."""

from __future__ import annotations

import ctypes
import platform
import subprocess
import sys
import types

import pytest

from sealedreg import allocator


def fake_libc(answer) -> types.SimpleNamespace:
    """A C library whose mallopt answers `answer(param, value)`."""
    def mallopt(param: int, value: int) -> int:
        return answer(param, value)
    return types.SimpleNamespace(mallopt=mallopt)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_glibc_takes_every_setting():
    # In a process of its own: the settings are process-wide.
    run = subprocess.run([sys.executable, "-c", "from sealedreg import allocator; print(allocator.tune())"],
                         capture_output=True, text=True, timeout=60)
    assert run.stdout.strip() == "True", run.stderr


def test_the_settings_asked_for(monkeypatch: pytest.MonkeyPatch):
    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake_libc(lambda p, v: asked.append((p, v)) or 1))
    assert allocator.tune() is True
    assert asked == [(-3, 8 << 20), (-1, 32 << 20), (-8, 2)]  # mmap threshold, trim threshold, arenas


def test_a_c_library_without_mallopt_is_left_alone(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ctypes, "CDLL", lambda name: object())
    assert allocator.tune() is False


def test_a_setting_refused_is_reported(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(ctypes, "CDLL", lambda name: fake_libc(lambda p, v: 0 if p == -8 else 1))
    assert allocator.tune() is False
