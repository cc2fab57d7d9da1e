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


def test_write_atomic_can_start_the_write_it_does_not_wait_for(tmp_path: Path, monkeypatch):
    calls: list = []
    monkeypatch.setattr(fileio, "_SYNC_FILE_RANGE", lambda fd, off, n, flags: calls.append((off, n, flags)))
    fileio.write_atomic(tmp_path / "b", b"block", tmp_path, durable=False, writeback=True)
    assert (tmp_path / "b").read_bytes() == b"block"
    assert calls == [(0, 5, 2)]  # SYNC_FILE_RANGE_WRITE: start, do not wait
    fileio.write_atomic(tmp_path / "c", b"other", tmp_path, durable=False)
    assert len(calls) == 1


def test_start_writeback_on_a_real_file(tmp_path: Path):
    with open(tmp_path / "f", "wb") as f:
        f.write(b"z" * 8192)
        f.flush()
        assert fileio.start_writeback(f.fileno(), 0, 8192)  # Linux, where CI runs: the kernel takes it
        assert not fileio.start_writeback(f.fileno(), -1, 8192)  # and refuses what it should
    assert (tmp_path / "f").read_bytes() == b"z" * 8192
