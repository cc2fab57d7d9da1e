"""The `sealedreg` command. Thin: it parses, calls the library, and prints.

One module per noun; a command's module is imported only when that command
runs, so `sealedreg keygen` does not load the HTTP server. Errors are one line
on stderr and exit 1 (`common.user_errors`); usage errors exit 2 (click).
"""

from __future__ import annotations

import importlib

import click

from sealedreg import __version__

COMMANDS = {
    "serve": "sealedreg.cli.serve:serve",
    "inspect": "sealedreg.cli.images:inspect",
    "export": "sealedreg.cli.images:export",
    "import": "sealedreg.cli.images:import_",
    "publish": "sealedreg.cli.namespaces:publish",
    "resolve": "sealedreg.cli.namespaces:resolve",
    "keygen": "sealedreg.cli.keys:keygen",
    "org-secret": "sealedreg.cli.keys:org_secret",
    "grant": "sealedreg.cli.private:grant",
    "revoke": "sealedreg.cli.private:revoke",
    "grants": "sealedreg.cli.private:grants",
    "open": "sealedreg.cli.private:open_",
    "user": "sealedreg.cli.users:user",
    "config": "sealedreg.cli.config:config",
    "gc": "sealedreg.cli.gc:gc",
    "fsck": "sealedreg.cli.fsck:fsck",
}


class LazyGroup(click.Group):
    """A group whose commands live in their own modules, imported on use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name].partition(":")
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, epilog="\b\nExample:\n  sealedreg serve --config sealedreg.toml\n  sealedreg COMMAND --help")
@click.version_option(__version__, prog_name="sealedreg")
def main() -> None:
    """sealedreg: an OCI registry that keeps images encrypted on IPFS."""
