"""The data directory's layout: paths only from fixed-form ids."""

import pytest

from sealedreg.datadir import DataDir, is_session_id

SID = "0123456789abcdef0123456789abcdef"


def test_layout(tmp_path):
    d = DataDir(tmp_path / "data")
    assert d.index == d.root / "index.sqlite" and d.users_file.name == "users.htpasswd"
    assert d.session_data(SID) == d.uploads / SID / "data" and d.session_state(SID).name == "state.json"
    assert d.rotated_secret(SID) == d.secrets / f"{SID}.secret"


@pytest.mark.parametrize("bad", ["../" + SID[3:], SID.upper(), SID + "\n", "", SID[:-1], "/" + SID[1:]])
def test_ids_that_could_leave_the_directory_are_refused(tmp_path, bad):
    d = DataDir(tmp_path)
    assert not is_session_id(bad)
    with pytest.raises(ValueError):
        d.session_dir(bad)
    with pytest.raises(ValueError):
        d.rotated_secret(bad)


def test_prepare_is_private_and_clears_scratch_only_when_starting(tmp_path):
    d = DataDir(tmp_path / "data")
    d.prepare()
    assert (d.root.stat().st_mode & 0o777) == 0o700
    (d.tmp / "leftover").write_text("x")
    (d.tmp / "dir").mkdir()
    d.prepare()
    assert (d.tmp / "leftover").exists()
    d.prepare(clean_scratch=True)
    assert list(d.tmp.iterdir()) == []
