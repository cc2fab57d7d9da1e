"""Auth modes and operations against real servers: basic mode, the start-up
rule, `sealedreg user …` on a running server (and what it revokes), and logs
that never carry a secret."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import pty
import re
import select
import subprocess
import sys
import termios

import httpx
import pytest

from sealedreg.auth.users import check_password, read_users
from tests.helpers.auth import basic, bearer, new_password, run_auth_registry
from tests.helpers.server import REPO_ROOT, free_port, run_registry, run_server

pytestmark = pytest.mark.integration

ORGS = """
[[acl]]
namespaces = ["a.example"]
users = ["alice"]
actions = ["pull", "push", "delete"]

[[acl]]
namespaces = ["b.example"]
users = ["bob"]
actions = ["pull", "push", "delete"]
"""

BLOB = b"basic mode blob " * 64
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()


def sealedreg(*args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True,
                          input=input, cwd=REPO_ROOT, timeout=60)


def error_code(r: httpx.Response) -> str:
    return r.json()["errors"][0]["code"]


# --------------------------------------------------------------------------- basic mode


def test_basic_mode(tmp_path):
    users = {"alice": new_password(), "bob": new_password()}
    with run_auth_registry(tmp_path, users, ORGS, mode="basic") as reg:
        alice, bob = basic("alice", users["alice"]), basic("bob", users["bob"])
        r = httpx.get(f"{reg.url}/v2/")
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
        assert r.headers["www-authenticate"] == 'Basic realm="sealedreg",charset="UTF-8"'
        assert httpx.get(f"{reg.url}/v2/", headers=alice).status_code == 200
        assert httpx.get(f"{reg.url}/token").status_code == 404  # no token service in basic mode
        # push and pull with credentials on every request
        r = httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/?digest={DIGEST}", content=BLOB, headers=alice)
        assert r.status_code == 201, r.text
        assert httpx.get(f"{reg.url}/v2/a.example/app/blobs/{DIGEST}", headers=alice).content == BLOB
        # anonymous: 401; wrong password: 401; another org: 403 DENIED (credentials fine, access not)
        r = httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/")
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
        r = httpx.get(f"{reg.url}/v2/a.example/app/blobs/{DIGEST}", headers=basic("alice", "nope"))
        assert r.status_code == 401 and error_code(r) == "UNAUTHORIZED"
        r = httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/", headers=bob)
        assert r.status_code == 403 and error_code(r) == "DENIED"
        r = httpx.delete(f"{reg.url}/v2/a.example/app/blobs/{DIGEST}", headers=bob)
        assert r.status_code == 403 and error_code(r) == "DENIED"
        r = httpx.head(f"{reg.url}/v2/a.example/app/blobs/{DIGEST}", headers=bob)
        assert r.status_code == 403 and r.content == b""
        # a mount from a repository bob cannot read is a plain new session
        r = httpx.post(f"{reg.url}/v2/b.example/x/blobs/uploads/?mount={DIGEST}&from=a.example/app", headers=bob)
        assert r.status_code == 202
        r = httpx.post(f"{reg.url}/v2/a.example/y/blobs/uploads/?mount={DIGEST}&from=a.example/app", headers=alice)
        assert r.status_code == 201
        # the catalog: each sees their own; anonymous may not list at all
        cat = httpx.get(f"{reg.url}/v2/_catalog", headers=alice).json()["repositories"]
        assert cat and all(n.startswith("a.example/") for n in cat)
        assert httpx.get(f"{reg.url}/v2/_catalog", headers=bob).json()["repositories"] == []
        r = httpx.get(f"{reg.url}/v2/_catalog")
        assert r.status_code == 401
        # failed logins are throttled per client in this mode too
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.31")) as attacker:
            codes = [attacker.get(f"{reg.url}/v2/", headers=basic("alice", f"guess{i}")).status_code
                     for i in range(6)]
            assert codes[:5] == [401] * 5 and codes[5] == 429
            r = attacker.get(f"{reg.url}/v2/", headers=alice)
            assert r.status_code == 429 and error_code(r) == "TOOMANYREQUESTS" and int(r.headers["retry-after"]) >= 1
        assert httpx.get(f"{reg.url}/v2/", headers=alice).status_code == 200


# --------------------------------------------------------------------------- the start-up rule


def test_loopback_without_users_runs_open_and_says_so(tmp_path):
    with run_registry(tmp_path / "data") as srv:
        assert httpx.get(f"{srv.url}/v2/").status_code == 200
        assert httpx.post(f"{srv.url}/v2/x/blobs/uploads/").status_code == 202
    text = srv.log.read_text()
    assert "auth: off" in text and "loopback" in text


def test_non_loopback_without_auth_refused(tmp_path):
    p = sealedreg("serve", "--listen", f"0.0.0.0:{free_port()}", "--data", str(tmp_path / "data"))
    assert p.returncode != 0
    assert "refusing to listen on 0.0.0.0 without auth" in p.stderr and "--insecure-no-auth" in p.stderr
    assert "Traceback" not in p.stderr
    p = sealedreg("serve", "--listen", f"0.0.0.0:{free_port()}", "--data", str(tmp_path / "data"), "--auth", "none")
    assert p.returncode != 0 and "without auth" in p.stderr


def test_insecure_no_auth_flag(tmp_path):
    port = free_port()
    argv = [sys.executable, "-m", "sealedreg", "serve", "--listen", f"0.0.0.0:{port}", "--data",
            str(tmp_path / "data"), "--insecure-no-auth"]
    with run_server(argv, "/v2/", tmp_path / "insecure.log", port) as srv:
        assert httpx.get(f"{srv.url}/v2/").status_code == 200
    assert "auth: OFF on 0.0.0.0" in (tmp_path / "insecure.log").read_text()


def test_users_file_turns_token_auth_on(tmp_path):
    data = tmp_path / "data"
    p = sealedreg("user", "add", "alice", "--data", str(data), "--password-stdin", input="pw-alice\n")
    assert p.returncode == 0, p.stderr
    with run_registry(data) as srv:
        r = httpx.get(f"{srv.url}/v2/")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer ")
        assert httpx.get(f"{srv.url}/token", auth=("alice", "pw-alice")).status_code == 200
    assert "auth: token (1 users" in srv.log.read_text()
    assert (data / "token.key").stat().st_mode & 0o077 == 0


def test_open_users_file_refused(tmp_path):
    data = tmp_path / "data"
    assert sealedreg("user", "add", "alice", "--data", str(data), "--password-stdin", input="pw\n").returncode == 0
    os.chmod(data / "users.htpasswd", 0o644)
    p = sealedreg("serve", "--listen", f"127.0.0.1:{free_port()}", "--data", str(data))
    assert p.returncode != 0 and "chmod 600" in p.stderr and "Traceback" not in p.stderr
    assert "$2y$" not in p.stderr


# --------------------------------------------------------------------------- users on a running server


def test_user_commands_on_a_running_server(tmp_path):
    users = {"alice": new_password(), "bob": new_password()}
    with run_auth_registry(tmp_path, users) as reg:
        data = str(reg.data)
        # a user added while the server runs can log in at once
        p = sealedreg("user", "add", "carol", "--data", data, "--password-stdin", input="carol-pw\n")
        assert p.returncode == 0 and "added user carol" in p.stdout
        assert httpx.get(f"{reg.url}/token", auth=("carol", "carol-pw")).status_code == 200
        p = sealedreg("user", "list", "--data", data)
        assert p.stdout.split() == ["alice", "bob", "carol"] and "$2" not in p.stdout
        p = sealedreg("user", "add", "carol", "--data", data, "--password-stdin", input="x\n")
        assert p.returncode != 0 and "already exists" in p.stderr
        for bad_name in ("a:b", "../x", ""):
            assert sealedreg("user", "add", bad_name, "--data", data, "--password-stdin",
                             input="x\n").returncode != 0
        assert sealedreg("user", "add", "dave", "--data", data, "--password-stdin", input="\n").returncode != 0

        refresh = {u: reg.token_response(u, offline=True).json()["refresh_token"] for u in ("alice", "bob")}

        def refreshed(user: str) -> httpx.Response:
            return httpx.post(f"{reg.url}/token", data={"grant_type": "refresh_token",
                                                         "refresh_token": refresh[user]})

        assert refreshed("alice").status_code == 200 and refreshed("bob").status_code == 200
        # removing a user revokes their refresh tokens and logins at once
        assert sealedreg("user", "remove", "alice", "--data", data).returncode == 0
        r = refreshed("alice")
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        assert httpx.get(f"{reg.url}/token", auth=("alice", users["alice"])).status_code == 401
        # a new password revokes the refresh tokens issued under the old one
        p = sealedreg("user", "add", "bob", "--replace", "--data", data, "--password-stdin", input="new-bob-pw\n")
        assert p.returncode == 0 and "updated" in p.stdout
        assert refreshed("bob").status_code == 400
        assert httpx.get(f"{reg.url}/token", auth=("bob", "new-bob-pw")).status_code == 200
        assert sealedreg("user", "remove", "nobody", "--data", data).returncode != 0


# --------------------------------------------------------------------------- logs


def test_no_secret_in_logs(tmp_path):
    """Every kind of login, token and denial, at debug level with the access log
    on; then not one password, token, hash or key byte may be in the log."""
    users = {"alice": new_password(), "bob": new_password()}
    extra = 'log_level = "debug"\naccess_log = true\n'
    with run_auth_registry(tmp_path, users, extra + ORGS) as reg:
        secrets_seen: list[str] = list(users.values())
        got = reg.token_response("alice", "repository:a.example/app:pull,push", offline=True).json()
        secrets_seen += [got["token"], got["refresh_token"]]
        tok = got["token"]
        r = httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/?digest={DIGEST}", content=BLOB,
                       headers=bearer(tok))
        assert r.status_code == 201
        r = httpx.post(f"{reg.url}/token", data={"grant_type": "refresh_token", "refresh_token": got["refresh_token"],
                                                  "scope": "repository:a.example/app:pull"})
        secrets_seen.append(r.json()["access_token"])
        r = httpx.post(f"{reg.url}/token", data={"grant_type": "password", "username": "bob",
                                                  "password": users["bob"], "access_type": "offline"})
        secrets_seen += [r.json()["access_token"], r.json()["refresh_token"]]
        wrong = "wrong-" + new_password()
        secrets_seen.append(wrong)
        assert httpx.get(f"{reg.url}/token", auth=("alice", wrong)).status_code == 401
        assert httpx.post(f"{reg.url}/token", data={"grant_type": "password", "username": "alice",
                                                     "password": wrong}).status_code == 400
        typo_as_user = "pw-" + new_password()  # a password typed into the user field
        secrets_seen.append(typo_as_user)
        assert httpx.get(f"{reg.url}/token", auth=(typo_as_user, "x")).status_code == 401
        # denials with tokens: expired, forged, wrong scope
        expired, _ = reg.minter().issue("alice", [], now=1_000_000)
        secrets_seen.append(expired)
        assert httpx.get(f"{reg.url}/v2/", headers=bearer(expired)).status_code == 401
        tampered = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
        secrets_seen.append(tampered)
        assert httpx.get(f"{reg.url}/v2/", headers=bearer(tampered)).status_code == 401
        assert httpx.delete(f"{reg.url}/v2/a.example/app/blobs/{DIGEST}", headers=bearer(tok)).status_code == 401
        bob_tok = reg.token("bob", "repository:a.example/app:pull,push")
        secrets_seen.append(bob_tok)
        assert httpx.post(f"{reg.url}/v2/a.example/app/blobs/uploads/", headers=bearer(bob_tok)).status_code == 401
        key_pem = (reg.data / "token.key").read_text()
        hashes = [line.split(":", 1)[1] for line in (reg.data / "users.htpasswd").read_text().split()]
    log = reg.log.read_text()
    # the log did record what happened ...
    assert "login failed" in log and "unknown user" in log and "token expired" in log
    assert "insufficient scope" in log and "token issued to alice" in log and "GET /token" in log
    # ... and none of the secrets
    for secret in secrets_seen + hashes:
        assert secret not in log, f"secret in log: {secret[:12]}…"
        for part in secret.split("."):
            if len(part) > 20:
                assert part not in log, f"token part in log: {part[:12]}…"
    for user, password in users.items():
        assert base64.b64encode(f"{user}:{password}".encode()).decode() not in log
    key_body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    assert key_body not in log and key_body[:20] not in log
    assert not re.search(r"\$2[aby]\$\d\d\$", log)


def test_user_add_prompts_on_a_terminal_without_echo(tmp_path):
    """`user add` without --password-stdin asks twice on the terminal, echoing nothing."""
    master, slave = pty.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen([sys.executable, "-m", "sealedreg", "user", "add", "erin", "--data", str(tmp_path / "d")],
                            stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty, cwd=REPO_ROOT)
    os.close(slave)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        while marker not in seen:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, f"no {marker!r} on the terminal; saw {seen!r}"
            seen += os.read(master, 4096)

    try:
        read_until(b"Password:")
        os.write(master, b"erin-secret-pw\n")
        read_until(b"Repeat for confirmation:")
        os.write(master, b"erin-secret-pw\n")
        read_until(b"added user erin")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(master)
    assert b"erin-secret-pw" not in seen
    assert check_password("erin-secret-pw", read_users(tmp_path / "d" / "users.htpasswd")["erin"])
