"""The layers contract in pyproject.toml holds, and would catch an arrow
pointing up (checked on a copy of the package with one bad import added)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    command = "from importlinter.cli import lint_imports_command; lint_imports_command()"  # `lint-imports`
    return subprocess.run([sys.executable, "-c", command, "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_layers_contract_is_kept():
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_it(tmp_path):
    shutil.copytree(REPO / "sealedreg", tmp_path / "sealedreg", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    victim = tmp_path / "sealedreg" / "crypto" / "convergent.py"
    victim.write_text(victim.read_text() + "\nfrom sealedreg.registry import digests  # noqa: E402,F401\n")
    result = lint(tmp_path)
    assert result.returncode != 0
    assert "sealedreg.crypto.convergent -> sealedreg.registry.digests" in result.stdout


def test_a_new_top_level_module_must_be_given_a_layer(tmp_path):
    shutil.copytree(REPO / "sealedreg", tmp_path / "sealedreg", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "sealedreg" / "stray.py").write_text('"""Nobody placed me."""\n')
    result = lint(tmp_path)
    assert result.returncode != 0 and "stray" in result.stdout
