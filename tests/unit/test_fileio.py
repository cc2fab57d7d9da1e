"""fileio: atomic writes."""

from __future__ import annotations

from pathlib import Path

from sealedreg import fileio


def test_write_atomic_replaces_whole_and_leaves_no_temp(tmp_path: Path):
    target = tmp_path / "f"
    fileio.write_atomic(target, b"one", tmp_path)
    fileio.write_atomic(target, b"two", tmp_path, durable=False)
    assert target.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
