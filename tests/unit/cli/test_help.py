"""Every command: help with an example, exit codes 0 / 1 (one `Error:` line,
no traceback) / 2 (usage), JSON alone on stdout, and progress only on a
terminal."""

import asyncio
import io
import json

import click
import pytest
from click.testing import CliRunner

from sealedreg.auth.users import add_user
from sealedreg.cli import COMMANDS, main
from sealedreg.cli.common import progress
from sealedreg.config import load
from sealedreg.crypto.keys import OrgKeys
from sealedreg.protected_files import create_secret
from sealedreg.publish.keyfiles import write_keys
from sealedreg.registry.digests import Digest
from sealedreg.wiring import open_registry


def every_command() -> list[tuple[str, ...]]:
    """Each command's path, its subcommands' too."""
    paths = []

    def walk(path: tuple[str, ...], command: click.Command) -> None:
        paths.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(click.Context(command)):
                walk(path + (name,), command.get_command(click.Context(command), name))

    ctx = click.Context(main)
    for name in sorted(COMMANDS):
        walk((name,), main.get_command(ctx, name))
    return paths


@pytest.mark.parametrize("path", every_command(), ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0 and "Usage:" in result.stdout
    example = result.stdout[result.stdout.index("Example"):]
    assert "sealedreg " + path[0] in example, f"{' '.join(path)}: the example does not show the command"


def test_the_walk_finds_subcommands():
    paths = every_command()
    assert ("user", "add") in paths and ("config", "check") in paths and ("serve",) in paths
    assert "Example" in CliRunner().invoke(main, ["--help"]).stdout


@pytest.mark.parametrize("argv", [
    ["inspect"], ["no-such-command"], ["export", "example.com/app:1"], ["import", "/nonexistent.car"],
    ["publish", "--ttl", "0", "example.com"], ["user", "add"], ["user", "frob"], ["config", "check"],
    ["grants", "--no-such-option", "a.org/x"], ["serve", "--log-level", "loud"],
])
def test_usage_errors_exit_2(argv):
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""


# -- a registry to work on ---------------------------------------------------------
PUBLIC, PRIVATE = "example.com/app", "example.com/internal/app"


async def _push(registry, repo: str) -> None:
    async def upload(data: bytes) -> str:
        session = await registry.start_upload(repo)

        async def body():
            yield data

        return (await registry.commit_upload(repo, session.id, Digest.of(data), body())).digest

    config, layer = b'{"architecture":"amd64","os":"linux"}', bytes(range(256)) * 400
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": await upload(config),
                           "size": len(config)},
                "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": await upload(layer),
                            "size": len(layer)}]}
    await registry.put_manifest(repo, "1.0", json.dumps(manifest).encode(), manifest["mediaType"])


@pytest.fixture
def site(tmp_path):
    """A data dir with a public and a private image; `args` point commands at it."""
    write_keys(OrgKeys.generate("example.com"), tmp_path / "keys")
    create_secret(tmp_path / "example.com.secret")
    cfg = tmp_path / "sealedreg.toml"
    cfg.write_text(f'data = "{tmp_path / "data"}"\n[namespaces."example.com"]\norg_secret = "example.com.secret"\n'
                   'keys = "keys/example.com.key"\nprivate = ["internal/*"]\n[groups]\nops = ["alice"]\n')
    config = load(cfg, env={})

    async def fill():
        registry = open_registry(config)
        try:
            await _push(registry, PUBLIC)
            await _push(registry, PRIVATE)
        finally:
            await registry.close()

    asyncio.run(fill())
    add_user(config.users_path, "alice", "correct horse battery")
    add_user(config.users_path, "bob", "correct horse battery")

    class Site:
        args = ["--config", str(cfg)]
        path = tmp_path
    return Site


def _json(result) -> dict:
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # stdout is the JSON and nothing else
    assert isinstance(doc, dict)
    return doc


def test_json_outputs(site, tmp_path):
    run = CliRunner().invoke
    doc = _json(run(main, ["inspect", *site.args, "--json", f"{PUBLIC}:1.0"]))
    assert doc["repository"] == PUBLIC and len(doc["blobs"]) == 2
    assert _json(run(main, ["inspect", *site.args, f"{PUBLIC}:1.0"])) == doc  # JSON is inspect's only output
    assert _json(run(main, ["grants", *site.args, "--json", PRIVATE])) == {
        "repository": PRIVATE, "recipients": run(main, ["grants", *site.args, PRIVATE]).stdout.split()}
    assert _json(run(main, ["user", "list", *site.args, "--json"])) == {
        "users": [{"name": "alice", "groups": ["ops"]}, {"name": "bob", "groups": []}]}
    published = _json(run(main, ["publish", *site.args, "--json", "example.com"]))
    assert {"namespace", "root", "seq", "expires"} <= set(published)
    car = tmp_path / "app.car"
    exported = _json(run(main, ["export", *site.args, "--json", f"{PUBLIC}:1.0", "-o", str(car)]))
    assert set(exported) == {"car", "root", "blocks", "repository", "digest"}
    imported = _json(run(main, ["import", "--data", str(tmp_path / "other"), "--json", str(car)]))
    assert imported == {"blocks": exported["blocks"], "repository": PUBLIC, "tag": "1.0", "digest": exported["digest"]}


def test_progress_is_silent_off_a_terminal(site, tmp_path):
    car = tmp_path / "app.car"
    for argv in (["export", *site.args, f"{PUBLIC}:1.0", "-o", str(car)], ["import", *site.args, str(car)],
                 ["publish", *site.args, "example.com"]):
        result = CliRunner().invoke(main, argv)  # CliRunner's stderr is no terminal
        assert result.exit_code == 0 and result.stderr == "", result.stderr
        json.loads(result.stdout)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_renders_on_a_terminal_and_nowhere_else():
    tty, pipe = Terminal(), io.StringIO()
    for stream in (tty, pipe):
        with progress("exporting example.com/app:1.0", stream=stream) as bar:
            assert bar.enabled is (stream is tty)
            bar(1000)
            bar.advance(24)
        with progress("publishing", total=3, unit="steps", stream=stream) as bar:
            bar.set_total(2)
            bar(2)
    assert pipe.getvalue() == ""
    assert "exporting example.com/app:1.0" in tty.getvalue() and "publishing" in tty.getvalue()


def test_progress_follows_stderr(capsys):
    with progress("x") as bar:  # pytest's captured stderr is no terminal
        bar(1)
    assert capsys.readouterr() == ("", "")


def test_transfer_reports_progress(site, tmp_path):
    from sealedreg.registry.transfer import export_image, import_car
    config = load(site.path / "sealedreg.toml", env={})
    car, out, into = tmp_path / "p.car", [], []

    async def go():
        registry = open_registry(config)
        try:
            await export_image(registry, PUBLIC, "1.0", car, progress=out.append)
        finally:
            await registry.close()
        other = open_registry(load(env={}, overrides={"data": tmp_path / "other"}))
        try:
            await import_car(other, car, progress=into.append)
        finally:
            await other.close()

    asyncio.run(go())
    assert sum(into) == car.stat().st_size and all(n > 0 for n in into)
    assert 0 < sum(out) < car.stat().st_size and len(out) == len(into)


@pytest.mark.parametrize("argv,message", [
    (["inspect", "--data", "{tmp}/none", "example.com/app:1"], "not a sealedreg data directory"),
    (["inspect", "--data", "{tmp}/garbage", "example.com/app:1"], "registry index: file is not a database"),
    (["inspect", "--data", "{tmp}/none", "Example/App:1"], "NAME_INVALID"),
    (["grants", "--data", "{tmp}/none", PRIVATE], "not a sealedreg data directory"),
    (["export", "--data", "{tmp}/none", "example.com/app:1", "-o", "{tmp}/x.car"], "not a sealedreg data directory"),
    (["import", "--data", "{tmp}/d", "{tmp}/not.car"], "CAR header"),
    (["open", "{tmp}/not.car", "--key", "{tmp}/no.key", "--publisher", "ed25519:AAAA", "--repo", PRIVATE],
     "ed25519 key must be 32 bytes"),
    (["keygen", "--name", "example.com", "--keys", "{tmp}/nokeys", "--rotate"], "no keys to rotate"),
    (["org-secret", "{tmp}/missing/dir/secret"], "No such file or directory"),
    (["user", "remove", "--data", "{tmp}/d", "bob"], "users file"),
    (["serve", "--listen", "nohost"], "listen: expected HOST:PORT"),
    (["serve", "--config", "{tmp}/missing.toml"], "not found"),
    (["serve", "--data", "{tmp}/d", "--listen", "0.0.0.0:5000"], "refusing to listen"),
    (["publish", "--data", "{tmp}/d", "--dns-server", "127.0.0.1:53", "example.com"], "--tsig-key is needed"),
    (["publish", "--data", "{tmp}/d", "example.com/app"], "is a repository, not a namespace"),
    (["config", "check", "{tmp}/missing.toml"], "not found"),
])
def test_failures_exit_1_with_one_line_on_stderr(tmp_path, argv, message):
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "index.sqlite").write_text("not a database")
    (tmp_path / "not.car").write_bytes(b"")
    result = CliRunner().invoke(main, [a.replace("{tmp}", str(tmp_path)) for a in argv], env={})
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    assert message in result.stderr and "Traceback" not in result.output and result.stdout == ""
