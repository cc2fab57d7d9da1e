"""The browse page (`/ui/`) of a real `sealedreg serve` with token auth, rendered
by headless Chromium: a user who may pull the private repository sees it (its
tags, sizes, the namespace's published root), a user without the right and an
anonymous viewer never see its name, wrong credentials get the Basic
challenge. Users are made with `sealedreg user add`, images pushed by skopeo;
each view is also screenshotted (into the test's tmp_path)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.helpers.auth import AuthRegistry, new_password
from tests.helpers.browser import dump_dom, screenshot, with_credentials
from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration

PRIVATE = "p.example/secret-plans"
PUBLIC = ("pub.example/tools", "pub.example/mirror")

CONFIG = """auth = "token"
anonymous_pull = ["pub.example/**"]

[namespaces."p.example"]
org_secret = "p.secret"
keys = "keys/p.example.key"
private = ["secret-*"]

[[acl]]
namespaces = ["p.example", "pub.example"]
users = ["alice"]
actions = ["pull", "push"]

[[acl]]
namespaces = ["pub.example"]
users = ["bob"]
actions = ["pull"]
"""


def cli(*args: str, stdin: str | None = None) -> str:
    p = subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True, cwd=REPO_ROOT,
                       input=stdin)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture
def reg(tmp_path: Path) -> Iterator[AuthRegistry]:
    data, config = tmp_path / "data", tmp_path / "sealedreg.toml"
    cli("keygen", "--name", "p.example", "--keys", str(tmp_path / "keys"))
    cli("org-secret", str(tmp_path / "p.secret"))
    config.write_text(CONFIG)
    passwords = {"alice": new_password(), "bob": new_password()}
    for name, password in passwords.items():
        cli("user", "add", name, "--data", str(data), "--config", str(config), "--password-stdin",
            stdin=password + "\n")
    with run_registry(data, ["--config", str(config)]) as srv:
        yield AuthRegistry(srv, data, config, passwords)


def test_browse_page_in_chromium(tmp_path: Path, reg: AuthRegistry):
    image = write_image(tmp_path / "layout", layers=(40_000, 20_000), tag="1.0", seed=7)
    alice = f"alice:{reg.users['alice']}"
    with ClientSandbox(tmp_path / "clients", reg.address) as sb:
        for repo, tag in ((PRIVATE, "v1"), (PUBLIC[0], "1.0"), (PUBLIC[1], "1.0")):
            sb.skopeo("copy", "--dest-tls-verify=false", "--dest-creds", alice, f"oci:{image.path}:1.0",
                      f"docker://{reg.address}/{repo}:{tag}")
    tree = json.loads(cli("publish", "p.example", "--data", str(reg.data), "--config", str(reg.config)))
    root = tree["root"]
    total = image.manifest_size + len(image.config_bytes) + sum(image.layer_sizes)
    scratch = tmp_path / "chromium"
    ui = f"{reg.url}/ui/"

    # alice may pull the private repository: she sees it, marked private, and the namespace's published root
    dom = dump_dom(with_credentials(ui + "?login=1", "alice", reg.users["alice"]), scratch)
    assert 'id="user">alice<' in dom
    assert PRIVATE in dom and all(repo in dom for repo in PUBLIC)
    assert "private</span>" in dom and root in dom and "DNSLink" in dom and f"<dd>{tree['seq']}</dd>" in dom
    assert image.layer_digests[0] in dom  # shared by the two public repositories (the private copy is its own)
    page = dump_dom(with_credentials(f"{reg.url}/ui/r/{PRIVATE}?login=1", "alice", reg.users["alice"]), scratch)
    assert image.manifest_digest in page and f'title="{total} bytes"' in page and ">v1<" in page
    screenshot(with_credentials(f"{reg.url}/ui/r/{PRIVATE}?login=1", "alice", reg.users["alice"]),
               tmp_path / "ui-alice-repository.png", scratch)
    shot = screenshot(with_credentials(ui + "?login=1", "alice", reg.users["alice"]), tmp_path / "ui-alice.png",
                      scratch)
    assert shot.stat().st_size > 1000

    # bob may pull only pub.example: the private repository's name is nowhere in his page
    dom = dump_dom(with_credentials(ui + "?login=1", "bob", reg.users["bob"]), scratch)
    assert 'id="user">bob<' in dom and all(repo in dom for repo in PUBLIC)
    assert "secret-plans" not in dom
    missing = dump_dom(with_credentials(f"{reg.url}/ui/r/{PRIVATE}?login=1", "bob", reg.users["bob"]), scratch)
    assert "secret-plans" not in missing and "No such repository" in missing

    # anonymous: what anonymous_pull allows, and a way to log in
    dom = dump_dom(ui, scratch)
    assert all(repo in dom for repo in PUBLIC) and "secret-plans" not in dom
    assert 'href="/ui/?login=1"' in dom
    shot = screenshot(ui, tmp_path / "ui-anonymous.png", scratch)
    assert shot.stat().st_size > 1000

    # a wrong password: the Basic challenge again (Chromium then gives up on the page), nothing shown
    dom = dump_dom(with_credentials(ui + "?login=1", "alice", "wrong"), scratch, loads=False)
    assert "pub.example" not in dom and "secret-plans" not in dom
    r = httpx.get(ui, auth=("alice", "wrong"))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith('Basic realm="sealedreg"')
    assert "default-src 'none'" in r.headers["content-security-policy"]
