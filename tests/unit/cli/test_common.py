"""The CLI's shared parts: one-line errors with exit 1, references, and every
command's help."""

import click
import pytest
from click.testing import CliRunner

from sealedreg.cli import COMMANDS, main
from sealedreg.cli.common import split_ref, user_errors
from sealedreg.config import ConfigError
from sealedreg.registry.errors import NameInvalid
from sealedreg.storage.base import StorageUnavailable


@pytest.mark.parametrize("exc,message", [
    (NameInvalid(), "NAME_INVALID: invalid repository name"),
    (StorageUnavailable("kubo add: ConnectError"), "storage: kubo add: ConnectError"),
    (ConfigError("listen: expected HOST:PORT"), "listen: expected HOST:PORT"),
    (FileNotFoundError(2, "No such file", "x.car"), "[Errno 2] No such file: 'x.car'"),
])
def test_user_errors_become_one_line(exc, message):
    with pytest.raises(click.ClickException) as info:
        with user_errors():
            raise exc
    assert info.value.message == message


def test_bugs_are_not_dressed_up_as_user_errors():
    with pytest.raises(KeyError):
        with user_errors():
            raise KeyError("a bug")


def test_split_ref():
    assert split_ref("example.com/app") == ("example.com/app", "latest")
    assert split_ref("example.com/app:1.0") == ("example.com/app", "1.0")
    assert split_ref("example.com/app@sha256:" + "a" * 64) == ("example.com/app", "sha256:" + "a" * 64)
    with pytest.raises(click.ClickException, match="NAME_INVALID"):
        split_ref("../etc/passwd:x")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_has_help(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.output


def test_errors_exit_1_and_usage_errors_exit_2(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(main, ["inspect", "--data", str(tmp_path / "none"), "Example/App:1"])
    assert bad.exit_code == 1 and bad.output.count("\n") == 1 and "NAME_INVALID" in bad.output
    missing = runner.invoke(main, ["inspect", "--data", str(tmp_path / "none"), "example.com/app:1"])
    assert missing.exit_code == 1 and "not a sealedreg data directory" in missing.output
    assert runner.invoke(main, ["publish", "--data", str(tmp_path), "example.com/app"]).exit_code == 1
    assert runner.invoke(main, ["inspect"]).exit_code == 2
    assert runner.invoke(main, ["no-such-command"]).exit_code == 2
