"""The users file: htpasswd -B compatible, 0600, atomic edits, reloaded when it changes."""

from __future__ import annotations

import os
import stat

import pytest

from sealedreg.auth import users as u

# Written by Apache's `htpasswd -B` (apache2-utils 2.4): cost 5 and cost 10, and an
# 80-byte password, which htpasswd (like every bcrypt) cut to its first 72 bytes.
HTPASSWD_B = (
    "alice:$2y$05$2R5ERdINYIINRxs9U8bpNeB0Usv5qgpXnOKlJFWThB/KhJjZGTDVK\n"
    "bob:$2y$10$LUDogeVCCUyfkORrjXDQ4.iXPSgIywJOXADpTT21fkFgjpiQ8Lf3q\n"
    "carol:$2y$05$r/jhV9/4gFQIW3Gqp9Wi5OZ5lJpN1oX.6qFKWznIGbSdEsY2wcVt.\n"
)


def test_htpasswd_b_vectors_verify():
    entries = u.parse(HTPASSWD_B)
    assert u.check_password("s3cret pass", entries["alice"])
    assert not u.check_password("s3cret pasS", entries["alice"])
    assert u.check_password("hunter2", entries["bob"])
    assert u.check_password("x" * 80, entries["carol"])
    assert u.check_password("x" * 72 + "whatever", entries["carol"])  # bcrypt's 72-byte rule
    assert not u.check_password("x" * 71, entries["carol"])


def test_our_hashes_are_htpasswd_form():
    h = u.hash_password("pw")
    assert h.startswith("$2y$04$") and len(h) == 60
    assert u.check_password("pw", h) and not u.check_password("pw ", h)
    assert u.check_password("pw", "$2b$" + h[4:]) and u.check_password("pw", "$2a$" + h[4:])


@pytest.mark.parametrize("hashed", ["$apr1$abc$def", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "plain", "$2y$10$short",
                                    ""])
def test_non_bcrypt_or_corrupt_hashes_never_verify(hashed):
    assert not u.check_password("password", hashed)


def test_passwords_and_names_validated():
    for bad in ("", "x" * 73, "a\nb"):
        with pytest.raises(u.UsersFileError):
            u.validate_password(bad)
    assert u.validate_password("é" * 36)  # 72 bytes
    with pytest.raises(u.UsersFileError):
        u.validate_password("é" * 37)
    for bad in ("", "a:b", "a b", "-x", "x" * 65, "a\nb", "../x"):
        with pytest.raises(u.UsersFileError):
            u.validate_user_name(bad)
    assert u.validate_user_name("ci-bot@example.com") == "ci-bot@example.com"


def test_add_remove_list_and_mode(tmp_path):
    path = tmp_path / "data" / "users.htpasswd"
    assert u.list_users(path) == []
    assert u.add_user(path, "alice", "pw1") is True
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    u.add_user(path, "bob", "pw2")
    with pytest.raises(u.UsersFileError, match="already exists"):
        u.add_user(path, "alice", "other")
    assert u.add_user(path, "alice", "pw3", replace=True) is False
    entries = u.read_users(path)
    assert sorted(entries) == ["alice", "bob"] == u.list_users(path)
    assert u.check_password("pw3", entries["alice"]) and not u.check_password("pw1", entries["alice"])
    u.remove_user(path, "alice")
    assert u.list_users(path) == ["bob"]
    with pytest.raises(u.UsersFileError, match="no user"):
        u.remove_user(path, "alice")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_edits_keep_foreign_lines(tmp_path):
    path = tmp_path / "users.htpasswd"
    path.write_text("# managed by hand\n" + HTPASSWD_B + "dave:$apr1$x$y\n")
    os.chmod(path, 0o600)
    u.add_user(path, "erin", "pw")
    u.remove_user(path, "bob")
    text = path.read_text()
    assert text.startswith("# managed by hand\nalice:$2y$05$2R5E")
    assert "dave:$apr1$x$y" in text and "bob:" not in text and "erin:$2y$" in text


def test_open_file_refused(tmp_path):
    path = tmp_path / "users.htpasswd"
    path.write_text(HTPASSWD_B)
    os.chmod(path, 0o644)  # what `htpasswd -c` leaves behind
    with pytest.raises(u.UsersFileError, match="chmod 600") as info:
        u.read_users(path)
    assert "$2y$" not in str(info.value)
    with pytest.raises(u.UsersFileError):
        u.add_user(path, "x", "pw")


def test_parse_skips_junk_and_reports_without_hashes(caplog):
    entries = u.parse("\n# c\nnocolon\n:nouser\nalice:$2y$05$2R5ERdINYIINRxs9U8bpNeB0Usv5qgpXnOKlJFWThB/KhJjZGTDVK\n"
                      "dave:$apr1$salt$hash\n")
    assert sorted(entries) == ["alice", "dave"]
    assert "dave" in caplog.text and "$apr1" not in caplog.text and "$2y$" not in caplog.text


def test_users_reloads_and_fails_closed(tmp_path, caplog):
    path = tmp_path / "users.htpasswd"
    users = u.Users(path)
    assert users.hash_of("alice") is None  # no file: nobody
    u.add_user(path, "alice", "pw")
    assert users.exists("alice")
    u.add_user(path, "bob", "pw")
    assert users.exists("bob")
    os.chmod(path, 0o640)
    assert users.hash_of("alice") is None  # too open: nobody, until fixed
    assert "nobody can log in" in caplog.text
    os.chmod(path, 0o600)
    assert users.exists("alice")
    u.remove_user(path, "alice")
    assert not users.exists("alice") and users.exists("bob")


def test_unknown_users_and_odd_hashes_cost_as_much_as_the_file_s_strongest_hash():
    from sealedreg.auth.users import _DUMMY_HASHES, bcrypt_cost, check_password, dummy_check, hash_password

    assert bcrypt_cost(hash_password("pw", 5)) == 5 and bcrypt_cost("{SHA}abc") is None
    assert dummy_check("guess", 5) is False and 5 in _DUMMY_HASHES
    assert check_password("x", "{SHA}not-bcrypt", 5) is False  # no match, but the same bcrypt work
