"""Password logins: throttled per client, successes cached without the password."""

import asyncio

from sealedreg.auth import users
from sealedreg.auth.login import Outcome, Passwords
from sealedreg.auth.throttle import Throttle


def run(coro):
    return asyncio.run(coro)


def make(tmp_path) -> Passwords:
    path = tmp_path / "users.htpasswd"
    users.add_user(path, "alice", "right")
    return Passwords(users.Users(path), Throttle(allowed=2, base_delay=30.0))


def test_right_wrong_and_unknown(tmp_path):
    pw = make(tmp_path)
    ok = run(pw.login("c1", "alice", "right"))
    assert ok.outcome is Outcome.OK and ok.user == "alice" and ok.hashed.startswith("$2y$")
    assert run(pw.login("c1", "alice", "wrong")).outcome is Outcome.BAD
    assert run(pw.login("c2", "mallory", "right")).outcome is Outcome.BAD


def test_failures_throttle_the_client_not_others(tmp_path):
    pw = make(tmp_path)
    for _ in range(3):
        run(pw.login("c1", "alice", "wrong"))
    throttled = run(pw.login("c1", "alice", "right"))
    assert throttled.outcome is Outcome.THROTTLED and throttled.retry_after > 0
    assert run(pw.login("c2", "alice", "right")).outcome is Outcome.OK


def test_the_cache_holds_no_password_and_follows_password_changes(tmp_path):
    pw = make(tmp_path)
    assert run(pw.login("c1", "alice", "right")).outcome is Outcome.OK
    assert all(b"right" not in key for key in pw._ok)
    users.add_user(tmp_path / "users.htpasswd", "alice", "new", replace=True)
    assert run(pw.login("c1", "alice", "right")).outcome is Outcome.BAD  # the cached success is for the old hash
    assert run(pw.login("c1", "alice", "new")).outcome is Outcome.OK
