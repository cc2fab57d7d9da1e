"""docs/configuration.md lists every option of `Config`, no other, each with its
environment variable and the code's default."""

import dataclasses
import os
import re
from pathlib import Path

import pytest

from sealedreg.config import Config

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TOML_ONLY = {"namespaces", "groups", "acl"}
HEADER = "| option | environment | default | meaning |"


def rows(text: str) -> dict[str, tuple[str, str]]:
    """option → (environment, default) from the options table."""
    lines = text.splitlines()
    start = lines.index(HEADER) + 2
    out: dict[str, tuple[str, str]] = {}
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"a row of the options table has {len(cells)} cells, not 4: {line}"
        m = re.fullmatch(r"`(\w+)`", cells[0])
        assert m, f"not an option name: {cells[0]!r}"
        assert m.group(1) not in out, f"{m.group(1)} is listed twice"
        out[m.group(1)] = (cells[1], cells[2])
    return out


def defaults() -> dict[str, object]:
    return {f.name: f.default_factory() if f.default is dataclasses.MISSING else f.default
            for f in dataclasses.fields(Config)}


def rendered(value: object) -> str | None:
    """How a default is written in the doc; None: an empty one, which the doc describes in words."""
    if value is None or value == "" or value == {}:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, Path):
        return os.path.normpath(value)
    if value == []:
        return "[]"
    return str(value)


def problems(text: str) -> list[str]:
    documented, code = rows(text), defaults()
    found = [f"{name}: not in docs/configuration.md" for name in code if name not in documented]
    found += [f"{name}: documented but not an option" for name in documented if name not in code]
    for name, (env, default) in documented.items():
        if name not in code:
            continue
        want_env = "TOML only" if name in TOML_ONLY else f"`SEALEDREG_{name.upper()}`"
        if env != want_env:
            found.append(f"{name}: environment {env!r}, expected {want_env!r}")
        literal = re.fullmatch(r"`([^`]*)`", default)
        expected = rendered(code[name])
        if literal is None:
            if not (default == "—" or default.startswith("(")):
                found.append(f"{name}: default {default!r} is neither `a value`, (a description) nor —")
            elif expected is not None:
                found.append(f"{name}: the doc describes the default in words, the code's is {expected!r}")
        else:
            value = literal.group(1)
            value = os.path.normpath(value) if isinstance(code[name], Path) else value
            if value != expected:
                found.append(f"{name}: documented default {literal.group(1)!r}, the code's is {expected!r}")
    return found


def test_the_doc_lists_every_option_with_its_environment_variable_and_default():
    assert problems(DOC.read_text()) == []


def test_the_doc_says_durations_are_accepted():
    text = DOC.read_text()
    assert all(f"`{d}`" in text for d in ("30s", "15m", "2h", "7d"))


@pytest.mark.parametrize("change,complaint", [
    (lambda t: re.sub(r"^\| `gc_grace` .*\n", "", t, flags=re.M), "gc_grace: not in docs"),
    (lambda t: t.replace("| `listen` |", "| `no_such_option` | `SEALEDREG_NO_SUCH_OPTION` | `1` | x |\n| `listen` |"),
     "no_such_option: documented but not an option"),
    (lambda t: t.replace("| `3600` | content stored", "| `600` | content stored"),
     "gc_grace: documented default '600'"),
    (lambda t: t.replace("`SEALEDREG_LOG_FORMAT`", "`SEALEDREG_LOGFORMAT`"), "log_format: environment"),
    (lambda t: t.replace("| `namespaces` | TOML only |", "| `namespaces` | `SEALEDREG_NAMESPACES` |"),
     "namespaces: environment"),
    (lambda t: t.replace("| `300` | seconds an access token", "| (a while) | seconds an access token"),
     "token_lifetime: the doc describes the default in words"),
    (lambda t: t.replace("| `true` | fsync", "| `false` | fsync"), "durable: documented default 'false'"),
])
def test_the_check_catches(change, complaint):
    text = change(DOC.read_text())
    assert text != DOC.read_text()
    assert any(complaint in p for p in problems(text)), problems(text)
