"""docker-compose.yml and the Dockerfile, validated without a Docker engine."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from sealedreg.config import Config

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_shape():
    doc = compose()
    svc = doc["services"]["sealedreg"]
    assert (ROOT / svc["build"] / "Dockerfile").is_file()
    for port in svc["ports"]:
        assert re.fullmatch(r"(127\.0\.0\.1:)?\d+:\d+", port), port
    for vol in svc["volumes"]:
        name = vol.split(":", 1)[0]
        assert name in doc["volumes"], f"volume {name} is not declared"
    assert svc["stop_signal"] == "SIGTERM"
    grace = int(svc["stop_grace_period"].rstrip("s"))
    assert grace > Config().graceful_timeout, "compose must wait longer than the server drains"


def test_compose_command_and_env_are_accepted_by_the_cli():
    svc = compose()["services"]["sealedreg"]
    help_text = subprocess.run([sys.executable, "-m", "sealedreg", *svc["command"][:1], "--help"],
                               capture_output=True, text=True, check=True).stdout
    for arg in svc["command"][1:]:
        if arg.startswith("--"):
            assert arg in help_text, f"{arg} is not an option of `sealedreg {svc['command'][0]}`"
    fields = set(Config.__dataclass_fields__)
    for var in svc["environment"]:
        assert var.startswith("SEALEDREG_") and var[len("SEALEDREG_"):].lower() in fields, var
    port = int(svc["ports"][0].rsplit(":", 1)[1])
    assert f"0.0.0.0:{port}" in svc["command"]


def test_dockerfile_matches_compose():
    text = (ROOT / "Dockerfile").read_text()
    assert "EXPOSE 5000" in text
    for path in re.findall(r"^COPY (.+) \./", text, re.M):
        for p in path.split():
            assert (ROOT / p).exists(), p


def test_kubo_service_matches_the_registry_and_the_pinned_version():
    doc = compose()
    kubo = doc["services"]["kubo"]
    api = doc["services"]["sealedreg"]["environment"]["SEALEDREG_IPFS_API"]
    assert api == "http://kubo:5001" and "kubo" in doc["services"]["sealedreg"]["depends_on"]
    pinned = re.search(r'^KUBO_VERSION="?(v[0-9.]+)"?', (ROOT / "scripts" / "build-kubo.sh").read_text(), re.M)
    assert pinned and kubo["image"] == f"ipfs/kubo:{pinned.group(1)}"
    assert kubo["environment"]["IPFS_PROFILE"] == "unixfs-v1-2025"
