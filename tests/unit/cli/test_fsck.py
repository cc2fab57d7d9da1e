"""`sealedreg fsck` as a command: exit 0 when nothing damaged is in use, 1 otherwise.
(What it checks and repairs: tests/unit/registry/test_fsck.py; with a real client:
tests/integration/test_fsck.py.)"""

from __future__ import annotations

import json

from click.testing import CliRunner

from sealedreg.cli import main
from tests.unit.cli.test_gc import seeded


def test_fsck_exit_codes(tmp_path):
    runner = CliRunner()
    assert runner.invoke(main, ["fsck", "--data", str(tmp_path / "nothing")]).exit_code == 1
    data = seeded(tmp_path)
    clean = runner.invoke(main, ["fsck", "--data", data, "--json"])
    assert clean.exit_code == 0 and json.loads(clean.output)["clean"] is True
    for block in (tmp_path / "data" / "blocks").rglob("*"):
        if block.is_file():
            block.write_bytes(b"rot")
    damaged = runner.invoke(main, ["fsck", "--data", data])
    assert damaged.exit_code == 1 and "x.org/a: sha256:" in damaged.output
    assert runner.invoke(main, ["fsck", "--data", data, "--repair"]).exit_code == 0
    assert runner.invoke(main, ["fsck", "--data", data]).exit_code == 0
