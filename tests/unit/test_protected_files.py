import os

import pytest

from sealedreg.protected_files import SecretFileError, create_secret, load_secret


def test_create_and_load(tmp_path):
    p = tmp_path / "org.secret"
    create_secret(p)
    assert os.stat(p).st_mode & 0o777 == 0o600
    assert len(load_secret(p)) == 32
    with pytest.raises(SecretFileError, match="refusing to overwrite"):
        create_secret(p)


def test_refuses_open_mode_wrong_size_missing(tmp_path):
    p = tmp_path / "s"
    create_secret(p)
    os.chmod(p, 0o644)
    with pytest.raises(SecretFileError, match="readable by others"):
        load_secret(p)
    q = tmp_path / "short"
    q.write_bytes(b"x" * 31)
    os.chmod(q, 0o600)
    with pytest.raises(SecretFileError, match="exactly 32"):
        load_secret(q)
    with pytest.raises(SecretFileError, match="not found"):
        load_secret(tmp_path / "missing")


def test_error_messages_never_hold_the_secret(tmp_path):
    p = tmp_path / "s"
    create_secret(p)
    secret = p.read_bytes()
    os.chmod(p, 0o640)
    with pytest.raises(SecretFileError) as info:
        load_secret(p)
    assert secret.hex() not in str(info.value) and repr(secret) not in str(info.value)
