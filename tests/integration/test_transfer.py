"""`sealedreg export` / `sealedreg import`: an image crosses an air gap as a CAR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image
from tests.helpers.server import REPO_ROOT, run_registry

pytestmark = pytest.mark.integration


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "sealedreg", *args], capture_output=True, text=True, cwd=REPO_ROOT)
    if check:
        assert p.returncode == 0, p.stderr
    return p


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Path, Path, object]:
    """An image pushed with skopeo to registry A and exported (while A runs) to a CAR."""
    tmp = tmp_path_factory.mktemp("transfer")
    image = write_image(tmp / "img", layers=[2_200_000, 1000, 0], compresslevel=0, tag="1.0")
    data_a = tmp / "a"
    with run_registry(data_a) as srv, ClientSandbox(tmp / "sb", srv.address) as sb:
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{image.path}:1.0",
                  f"docker://{srv.address}/example.com/app:1.0", debug=False)
        car = tmp / "app.car"
        out = json.loads(cli("export", "--data", str(data_a), "example.com/app:1.0", "-o", str(car)).stdout)
    assert out["digest"] == image.manifest_digest
    return car, data_a, image


def test_import_then_pull_identical(tmp_path, exported):
    car, data_a, image = exported
    data_b = tmp_path / "b"
    summary = json.loads(cli("import", "--data", str(data_b), str(car)).stdout)
    assert summary["tag"] == "1.0" and summary["digest"] == image.manifest_digest
    a = json.loads(cli("inspect", "--data", str(data_a), "example.com/app:1.0").stdout)
    b = json.loads(cli("inspect", "--data", str(data_b), "example.com/app:1.0").stdout)
    assert a == b  # same digests, same CIDs
    with run_registry(data_b) as srv, ClientSandbox(tmp_path / "sb", srv.address) as sb:
        out = tmp_path / "pulled"
        sb.skopeo("copy", "--src-tls-verify=false", f"docker://{srv.address}/example.com/app:1.0", f"dir:{out}",
                  debug=False)
        assert (out / "manifest.json").read_bytes() == image.manifest_bytes
        for digest in image.layer_digests + [image.config_digest]:
            assert (out / digest.split(":")[1]).read_bytes() == image.blob_path(digest).read_bytes()


def test_tampered_car_is_refused_and_nothing_visible(tmp_path, exported):
    car, _, image = exported
    raw = bytearray(car.read_bytes())
    raw[len(raw) // 2] ^= 1
    bad = tmp_path / "bad.car"
    bad.write_bytes(bytes(raw))
    data_c = tmp_path / "c"
    p = cli("import", "--data", str(data_c), str(bad), check=False)
    assert p.returncode != 0 and "does not match its CID" in p.stderr and "Traceback" not in p.stderr
    p = cli("inspect", "--data", str(data_c), "example.com/app:1.0", check=False)
    assert p.returncode != 0


def test_truncated_or_foreign_car_is_refused(tmp_path, exported):
    car, _, _ = exported
    short = tmp_path / "short.car"
    short.write_bytes(car.read_bytes()[:5000])
    p = cli("import", "--data", str(tmp_path / "d"), str(short), check=False)
    assert p.returncode != 0 and "truncated" in p.stderr
    junk = tmp_path / "junk.car"
    junk.write_bytes(b"\x05hello")
    p = cli("import", "--data", str(tmp_path / "d"), str(junk), check=False)
    assert p.returncode != 0 and "Traceback" not in p.stderr
