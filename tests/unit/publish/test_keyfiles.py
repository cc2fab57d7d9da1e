"""Key files on disk: 0600, never overwritten by accident, refused when too open."""

import os

import pytest

from sealedreg.crypto.keys import KeyError_, OrgKeys, b64
from sealedreg.protected_files import SecretFileError
from sealedreg.publish.keyfiles import load_keys, load_public, write_keys


def test_write_load_round_trip(tmp_path):
    keys = OrgKeys.generate("example.com")
    private, public = write_keys(keys, tmp_path)
    assert os.stat(private).st_mode & 0o777 == 0o600
    back = load_keys(private)
    assert bytes(back.sig) == bytes(keys.sig) and bytes(back.box) == bytes(keys.box)
    pub = load_public(public)
    assert pub.kid == keys.public.kid and pub.sig_text == keys.public.sig_text
    assert b64(bytes(keys.box)) not in public.read_text()  # the .pub holds no private half


def test_refuses_overwrite_open_modes_and_bad_names(tmp_path):
    keys = OrgKeys.generate("example.com")
    write_keys(keys, tmp_path)
    with pytest.raises(KeyError_, match="--force"):
        write_keys(OrgKeys.generate("example.com"), tmp_path)
    write_keys(OrgKeys.generate("example.com"), tmp_path, force=True)
    os.chmod(tmp_path / "example.com.key", 0o644)
    with pytest.raises(SecretFileError, match="readable by others"):
        load_keys(tmp_path / "example.com.key")
    for name in ("../evil", "a/b", "", ".hidden"):
        with pytest.raises(KeyError_):
            write_keys(OrgKeys.generate(name), tmp_path)
    assert not (tmp_path.parent / "evil.key").exists()


def test_malformed_files(tmp_path):
    f = tmp_path / "k.key"
    for text in ("not json", '{"v":"other"}', '{"v":"sealedreg-key/v1","sig":"ed25519:AAAA","box":"x25519:AAAA"}',
                 '{"v":"sealedreg-pub/v1","sig":"ed25519:' + "A" * 44 + '"}'):
        f.write_text(text)
        os.chmod(f, 0o600)
        with pytest.raises(KeyError_):
            load_keys(f)
    with pytest.raises(KeyError_, match="not a readable"):
        load_public(tmp_path / "missing.pub")
    (tmp_path / "x.pub").write_text('{"v":"sealedreg-key/v1"}')
    with pytest.raises(KeyError_):
        load_public(tmp_path / "x.pub")
