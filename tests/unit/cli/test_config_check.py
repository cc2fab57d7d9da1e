"""`sealedreg config check FILE`: ok, or one line naming the option and its line."""

import json
import os

import pytest
from click.testing import CliRunner

from sealedreg.cli import main
from sealedreg.protected_files import create_secret


def check(tmp_path, text: str, *args: str, env: dict | None = None):
    f = tmp_path / "sealedreg.toml"
    f.write_text(text)
    return f, CliRunner().invoke(main, ["config", "check", *args, str(f)], env=env or {})


def test_a_good_file_is_ok(tmp_path):
    f, result = check(tmp_path, 'listen = "127.0.0.1:5001"\ngc_grace = "2h"\n')
    assert result.exit_code == 0 and result.stdout == f"{f}: ok\n"
    assert not (tmp_path / "sealedreg-data").exists()  # nothing made


@pytest.mark.parametrize("text,where", [
    ('listen = "127.0.0.1:5001"\n\n# durations\ngc_grace = "2x"\n', ":4: gc_grace: invalid value '2x'"),
    ('listen = "127.0.0.1:5001"\nlisten_port = 5\n', ":2: unknown option 'listen_port'"),
    ('[namespaces."example.com"]\norg_secret = "s"\n\n[namespaces."b.org"]\nlayers = "auto"\nprivat = ["x"]\n',
     ":6: namespaces.b.org: unknown option 'privat'"),
    ('[[acl]]\nusers = ["a"]\nactions = ["pull"]\nnamespaces = ["a.org"]\n\n[[acl]]\nusers = ["b"]\n'
     'namespaces = ["b.org"]\nverbs = ["pull"]\n', ":9: acl[1]: unknown option 'verbs'"),
    ('[namespaces]\n"c.org" = { keys = "k.key", layers = "all" }\n', ":2: namespaces.c.org.layers"),
    ('listen = "127.0.0.1:5001"\ngc_interval = [1\n', ":2: "),
    ('upload_ttl = "5m"\nupload_ttl = "6m"\n', ":2: "),  # tomllib: the key is defined twice
])
def test_an_error_names_the_option_and_its_line(tmp_path, text, where):
    f, result = check(tmp_path, text)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {f}{where}"), result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == "" and "Traceback" not in result.output


def test_files_the_config_names_are_checked_as_serve_reads_them(tmp_path):
    create_secret(tmp_path / "s")
    (tmp_path / "open.key").write_text("x")
    os.chmod(tmp_path / "open.key", 0o644)
    f, result = check(tmp_path, '[namespaces."a.org"]\norg_secret = "s"\nkeys = "missing.key"\n')
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {f}:3: namespaces.a.org.keys: ")
    f, result = check(tmp_path, 'listen = "127.0.0.1:5001"\ntsig_key = "%s"\n' % (tmp_path / "open.key"))
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {f}:2: tsig_key: ")
    assert "x" not in result.stderr.split(": ", 3)[-1].replace(str(tmp_path), "")  # never the file's contents


def test_auth_is_checked_without_making_a_token_key(tmp_path):
    f, result = check(tmp_path, f'data = "{tmp_path / "d"}"\nlisten = "0.0.0.0:5000"\n')
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {f}:2: auth: refusing to listen")
    f, result = check(tmp_path, f'data = "{tmp_path / "d"}"\nauth = "token"\n')
    assert result.exit_code == 1 and f"{f}:2: auth:" in result.stderr and "users" in result.stderr
    assert not (tmp_path / "d" / "token.key").exists()


def test_the_environment_is_applied_after_the_file(tmp_path):
    f, result = check(tmp_path, 'gc_grace = "2h"\n', env={"SEALEDREG_GC_GRACE": "3x"})
    assert result.exit_code == 1
    assert result.stderr == f"Error: {f} with the environment's SEALEDREG_GC_GRACE: gc_grace: invalid value '3x'\n"


def test_json_is_the_effective_settings_alone_on_stdout(tmp_path):
    f, result = check(tmp_path, '[namespaces."a.org"]\nlayers = "auto"\n', "--json",
                      env={"SEALEDREG_GC_INTERVAL": "6h"})
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["gc_interval"] == 21600 and doc["gc_grace"] == 3600 and doc["log_format"] == "text"
    assert doc["data"] == "sealedreg-data" and doc["users_file"] == os.path.join("sealedreg-data", "users.htpasswd")
    assert doc["namespaces"] == {"a.org": {"org_secret": None, "keys": None, "private": [], "layers": "auto"}}
    assert result.stderr == f"{f}: ok\n"


def test_missing_file_is_an_error_and_missing_argument_a_usage_error(tmp_path):
    result = CliRunner().invoke(main, ["config", "check", str(tmp_path / "none.toml")])
    assert result.exit_code == 1 and result.stderr == f"Error: config file {tmp_path / 'none.toml'} not found\n"
    assert CliRunner().invoke(main, ["config", "check"]).exit_code == 2
    assert CliRunner().invoke(main, ["config", "nope"]).exit_code == 2


def test_json_settings_never_show_a_password_in_a_url(tmp_path):
    f, result = check(tmp_path, 'ipfs_api = "http://admin:hunter2@127.0.0.1:5001"\n', "--json")
    assert result.exit_code == 0, result.output
    assert "hunter2" not in result.stdout and json.loads(result.stdout)["ipfs_api"] == "http://***@127.0.0.1:5001"
