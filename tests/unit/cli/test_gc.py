"""`sealedreg gc` as a command: output, exit codes, options. (What it frees:
tests/unit/registry/test_gc.py; against a running server: tests/integration/test_gc.py.)"""

from __future__ import annotations

import asyncio
import json

from click.testing import CliRunner

from sealedreg.cli import main
from sealedreg.config import load
from sealedreg.registry.digests import Digest
from sealedreg.wiring import open_registry


def seeded(tmp_path) -> str:
    """A data directory holding one blob no manifest references; its path."""
    data = tmp_path / "data"

    async def go():
        registry = open_registry(load(env={}, overrides={"data": data}))
        try:
            session = await registry.start_upload("x.org/a")

            async def body():
                yield b"orphan"

            await registry.commit_upload("x.org/a", session.id, Digest.of(b"orphan"), body())
        finally:
            await registry.close()

    asyncio.run(go())
    return str(data)


def test_json_report_and_grace(tmp_path):
    data = seeded(tmp_path)
    runner = CliRunner()
    kept = runner.invoke(main, ["gc", "--data", data, "--json"])  # default grace: 1 h
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.output)["blocks"] == 0
    dry = runner.invoke(main, ["gc", "--data", data, "--grace", "0", "--dry-run", "--json"])
    assert json.loads(dry.output)["blocks"] == 1 and json.loads(dry.output)["dry_run"] is True
    done = runner.invoke(main, ["gc", "--data", data, "--grace", "0s"])
    assert done.exit_code == 0 and done.output.startswith("freed 1 block, "), done.output
    assert "would free 0 blocks" in runner.invoke(main, ["gc", "--data", data, "--grace", "0", "--dry-run"]).output


def test_errors_and_usage(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["gc", "--data", str(tmp_path / "nothing")])
    assert missing.exit_code == 1 and "not a sealedreg data directory" in missing.output
    assert not (tmp_path / "nothing").exists()  # nothing is created by asking
    bad = runner.invoke(main, ["gc", "--data", seeded(tmp_path), "--grace", "soon"])
    assert bad.exit_code == 2 and "duration" in bad.output

