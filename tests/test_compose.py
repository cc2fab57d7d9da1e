"""docker-compose.yml and the Dockerfile, validated without a Docker engine."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from starlette.testclient import TestClient

from sealedreg.config import Config, load, split_listen

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


def options(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs of a command line (flags without a value map to "")."""
    out, i = {}, 0
    while i < len(argv):
        if argv[i].startswith("--"):
            name, eq, value = argv[i].partition("=")
            if not eq and i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                value, i = argv[i + 1], i + 1
            out[name] = value
        i += 1
    return out


def test_compose_command_and_env_are_accepted_by_the_cli():
    svc = compose()["services"]["sealedreg"]
    help_text = subprocess.run([sys.executable, "-m", "sealedreg", *svc["command"][:1], "--help"],
                               capture_output=True, text=True, check=True).stdout
    for arg in svc["command"][1:]:
        if arg.startswith("--"):
            assert re.search(rf"(^|[\s,]){re.escape(arg.split('=')[0])}([\s,=]|$)", help_text, re.M), \
                f"{arg} is not an option of `sealedreg {svc['command'][0]}`"
    fields = set(Config.__dataclass_fields__)
    for var in svc["environment"]:
        assert var.startswith("SEALEDREG_") and var[len("SEALEDREG_"):].lower() in fields, var
    port = int(svc["ports"][0].rsplit(":", 1)[1])
    assert f"0.0.0.0:{port}" in svc["command"]


def test_compose_settings_load_as_the_server_would_load_them():
    svc = compose()["services"]["sealedreg"]
    env = {k: str(v) for k, v in svc["environment"].items()}
    cli = options(svc["command"][1:])
    for var, value in env.items():  # each accepted on its own (a ConfigError names the option) ...
        load(env={var: value})
    config = load(env=env, overrides={"listen": cli.get("--listen"), "data": cli.get("--data")})  # ... and together
    # every published port is one the server listens on, inside the container
    host_ports = [p.rsplit(":", 1)[1] for p in svc["ports"]]
    assert host_ports == [str(config.port)], "the published port must be the one --listen names"
    assert config.host == "0.0.0.0"


def test_the_ipfs_api_host_is_a_service_of_the_file():
    doc = compose()
    api = urlsplit(doc["services"]["sealedreg"]["environment"]["SEALEDREG_IPFS_API"])
    assert api.hostname in doc["services"], f"{api.hostname} is not a service in docker-compose.yml"
    assert api.hostname in doc["services"]["sealedreg"]["depends_on"]
    kubo = doc["services"][api.hostname]
    assert "ipfs/kubo" in kubo["image"] and api.port == 5001  # Kubo's RPC API port


def healthcheck_url() -> str:
    test = compose()["services"]["sealedreg"]["healthcheck"]["test"]
    command = " ".join(test[1:]) if test[0] in ("CMD", "CMD-SHELL") else " ".join(test)
    urls = re.findall(r"https?://[^'\"\s)]+", command)
    assert len(urls) == 1, f"one URL expected in the healthcheck: {shlex.join(test)}"
    return urls[0]


def test_the_healthcheck_probes_readiness_unauthenticated(tmp_path, monkeypatch):
    from sealedreg.auth import users
    from sealedreg.server import assemble

    url = urlsplit(healthcheck_url())
    svc = compose()["services"]["sealedreg"]
    listen = options(svc["command"][1:])["--listen"]
    assert url.port == split_listen(listen)[1], "the healthcheck must probe the port the server listens on"
    assert url.hostname in ("127.0.0.1", "localhost"), "inside the container, over loopback"
    assert url.path == "/readyz"
    # the route is served, and without a credential, even with auth on (compose listens beyond loopback)
    monkeypatch.setattr(users, "BCRYPT_COST", 4)
    users.add_user(tmp_path / "data" / "users.htpasswd", "alice", "pw")
    app = assemble(Config(data=tmp_path / "data", durable=False, listen=listen)).app
    with TestClient(app, client=("127.0.0.1", 40000)) as client:
        assert client.get("/v2/").status_code == 401  # auth is on
        r = client.get(url.path)
        assert r.status_code == 200, r.text


def test_dockerfile_matches_compose():
    text = (ROOT / "Dockerfile").read_text()
    svc = compose()["services"]["sealedreg"]
    port = split_listen(options(svc["command"][1:])["--listen"])[1]
    assert re.search(rf"^EXPOSE {port}$", text, re.M)
    copies = re.findall(r"^(?:COPY|ADD)\s+(.+)$", text, re.M)
    assert copies
    for line in copies:
        args = [a for a in line.split() if not a.startswith("--")]
        if "--from" in line:
            continue  # from another build stage, not the context
        for source in args[:-1]:  # the last argument is the destination
            assert (ROOT / source).exists(), f"Dockerfile copies {source}, which does not exist"
    cmd = re.search(r"^CMD (\[.*\])$", text, re.M)
    assert cmd and split_listen(options(yaml.safe_load(cmd.group(1)))["--listen"])[1] == port, \
        "the image's own CMD listens on the port it EXPOSEs"


def test_kubo_service_matches_the_registry_and_the_pinned_version():
    doc = compose()
    kubo = doc["services"]["kubo"]
    api = doc["services"]["sealedreg"]["environment"]["SEALEDREG_IPFS_API"]
    assert api == "http://kubo:5001" and "kubo" in doc["services"]["sealedreg"]["depends_on"]
    pinned = re.search(r'^KUBO_VERSION="?(v[0-9.]+)"?', (ROOT / "scripts" / "build-kubo.sh").read_text(), re.M)
    assert pinned and kubo["image"] == f"ipfs/kubo:{pinned.group(1)}"
    assert kubo["environment"]["IPFS_PROFILE"] == "unixfs-v1-2025"
