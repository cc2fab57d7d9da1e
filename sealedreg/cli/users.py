"""`sealedreg user add|remove|list`: who may log in."""

from __future__ import annotations

from pathlib import Path

import click

from sealedreg.auth.users import add_user, list_users, remove_user, validate_user_name
from sealedreg.cli.common import CONFIG, DATA, JSON, example, load_config, print_json, user_errors


@click.group(epilog=example("sealedreg user add alice --data /var/lib/sealedreg", "sealedreg user list --json"))
def user() -> None:
    """Manage the users who may log in (a bcrypt htpasswd file, `htpasswd -B` compatible)."""


@user.command("add", epilog=example("sealedreg user add alice --data /var/lib/sealedreg",
                                     "printf '%s\\n' \"$PASSWORD\" | sealedreg user add ci --password-stdin"))
@DATA
@CONFIG
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--replace", is_flag=True, help="set a new password for an existing user")
@click.argument("name")
def user_add(data: Path | None, config_file: Path | None, password_stdin: bool, replace: bool, name: str) -> None:
    """Add user NAME (password from --password-stdin or a prompt)."""
    path = load_config(config_file, data=data).users_path
    with user_errors():
        validate_user_name(name)
        if password_stdin:
            password = click.get_text_stream("stdin").readline().rstrip("\r\n")
        else:
            password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
        new = add_user(path, name, password, replace=replace)
    click.echo(f"{'added' if new else 'updated'} user {name} in {path}")


@user.command("remove", epilog=example("sealedreg user remove alice --data /var/lib/sealedreg"))
@DATA
@CONFIG
@click.argument("name")
def user_remove(data: Path | None, config_file: Path | None, name: str) -> None:
    """Remove user NAME (their tokens expire; refresh tokens stop working at once)."""
    path = load_config(config_file, data=data).users_path
    with user_errors():
        remove_user(path, name)
    click.echo(f"removed user {name} from {path}")


@user.command("list", epilog=example("sealedreg user list --config sealedreg.toml --json"))
@DATA
@CONFIG
@JSON
def user_list(data: Path | None, config_file: Path | None, as_json: bool) -> None:
    """List the users, one per line (with their groups from the config);
    --json: {"users": [{"name", "groups"}]}."""
    config = load_config(config_file, data=data)
    with user_errors():
        names = list_users(config.users_path)
    users = [(name, sorted(g for g, members in config.groups.items() if name in members)) for name in names]
    if as_json:
        print_json({"users": [{"name": name, "groups": groups} for name, groups in users]})
        return
    for name, groups in users:
        click.echo(f"{name}\t{','.join(groups)}" if groups else name)
