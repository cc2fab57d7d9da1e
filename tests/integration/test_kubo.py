"""The Kubo test fixture itself: a loopback-only daemon with the docs/format.md §3
import config, and the facts about Kubo's DAGs our UnixFS builder relies on."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import httpx
import pytest

from tests.helpers.kubo import (
    IMPORT_CONFIG,
    IMPORT_PROFILE,
    KuboError,
    available_profiles,
    ipfs_cli,
    kubo_add_only_hash,
    read_config,
    run_kubo,
    set_config,
)
from tests.helpers.unixfs_vectors import content

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kubo_built")]

MiB = 1024 * 1024


@pytest.fixture
def node(tmp_path: Path):
    with run_kubo(tmp_path) as n:
        yield n


def rpc(node, cmd: str, **params) -> httpx.Response:
    r = httpx.post(f"{node.api_url}/api/v0/{cmd}", params=params, timeout=60.0)
    assert r.status_code == 200, f"{cmd}: {r.status_code} {r.text}"
    return r


def rpc_add(node, data: bytes, **params) -> str:
    r = httpx.post(f"{node.api_url}/api/v0/add", params={"pin": "false", **params},
                   files={"file": ("blob", data)}, timeout=60.0)
    assert r.status_code == 200, r.text
    return r.json()["Hash"]


# --------------------------------------------------------------------------- process sockets


def _listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    """(proto, ip, port) of every listening TCP / bound UDP socket the process holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        for line in lines:
            f = line.split()
            local, state, inode = f[1], f[3], f[9]
            if inode not in inodes:
                continue
            if proto.startswith("tcp") and state != "0A":   # 0A = LISTEN
                continue
            hexip, hexport = local.split(":")
            raw = bytes.fromhex(hexip)
            # /proc/net stores the address as host-order 32-bit words
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((proto, str(ipaddress.ip_address(raw)), int(hexport, 16)))
    return found


# --------------------------------------------------------------------------- tests


def test_profile_exists() -> None:
    assert IMPORT_PROFILE in available_profiles()


def test_daemon_starts_and_stops_on_loopback(tmp_path: Path) -> None:
    with run_kubo(tmp_path) as n:
        ident = rpc(n, "id").json()
        assert ident["ID"] == n.peer_id
        assert n.swarm_addr.startswith("/ip4/127.0.0.1/tcp/") and n.swarm_addr.endswith(f"/p2p/{n.peer_id}")
        assert n.api_url.startswith("http://127.0.0.1:") and n.gateway_url.startswith("http://127.0.0.1:")
        assert ipfs_cli(n, "id", "-f", "<id>").strip() == n.peer_id   # the CLI goes through the API
        proc = n.proc
        assert proc.poll() is None
    assert proc.returncode is not None
    with pytest.raises(httpx.TransportError):
        httpx.post(f"{n.api_url}/api/v0/id", timeout=2.0)


def test_no_non_loopback_listener(node) -> None:
    listen = rpc(node, "swarm/addrs/listen").json()["Strings"]
    assert listen == [node.swarm_addr.rsplit("/p2p/", 1)[0]], listen
    local = rpc(node, "swarm/addrs/local").json()["Strings"]
    assert all(a.startswith("/ip4/127.0.0.1/tcp/") for a in local), local
    ident = rpc(node, "id").json()
    assert all(a.startswith("/ip4/127.0.0.1/tcp/") for a in ident["Addresses"] or []), ident

    if not Path(f"/proc/{node.proc.pid}/net/tcp").exists():
        pytest.skip("no /proc: cannot list the daemon's sockets")
    socks = _listening_sockets(node.proc.pid)
    assert socks, "found none of the daemon's sockets"
    assert all(ip == "127.0.0.1" for _, ip, _ in socks), socks
    assert not [s for s in socks if s[0].startswith("udp")], f"UDP sockets (QUIC?): {socks}"
    ports = {p for _, _, p in socks}
    for url in (node.api_url, node.gateway_url, node.swarm_addr.split("/")[4]):
        assert int(str(url).rsplit(":", 1)[-1]) in ports


def test_import_config_is_design_s5(node) -> None:
    imp = rpc(node, "config/show").json()["Import"]
    for key, want in IMPORT_CONFIG.items():
        assert imp.get(key) == want, (key, imp.get(key), want)
    assert imp["CidVersion"] == 1 and imp["UnixFSRawLeaves"] is True
    assert imp["UnixFSChunker"] == "size-1048576" and imp["UnixFSFileMaxLinks"] == 1024
    assert imp["HashFunction"] == "sha2-256" and imp["UnixFSDAGLayout"] == "balanced"
    routing = rpc(node, "config", arg="Routing.Type").json()["Value"]
    assert routing == "none"
    assert rpc(node, "config", arg="Bootstrap").json()["Value"] == []


def test_add_cat_round_trip(node, tmp_path: Path) -> None:
    data = content(42, 2 * MiB + 12345)
    cid = rpc_add(node, data)          # no import flags: the repo config (§5) applies
    assert cid.startswith("bafybei")   # CIDv1 dag-pb root over 3 raw leaves
    assert cid == kubo_add_only_hash(data, tmpdir=tmp_path)
    assert rpc(node, "cat", arg=cid).content == data
    assert rpc(node, "cat", arg=cid, offset=MiB - 3, length=10).content == data[MiB - 3:MiB + 7]
    r = httpx.get(f"{node.gateway_url}/ipfs/{cid}", timeout=60.0)
    assert r.status_code == 200 and r.content == data
    links = rpc(node, "dag/get", arg=cid).json()["Links"]
    assert [lk["Tsize"] for lk in links] == [MiB, MiB, 12345]
    assert all(lk["Hash"]["/"].startswith("bafkrei") for lk in links)   # raw leaves


def test_blocks_move_between_two_nodes(tmp_path: Path) -> None:
    """Two daemons on loopback, no routing: B fetches what A has after `swarm connect`."""
    data = content(7, MiB + 99)
    with run_kubo(tmp_path, "a") as a, run_kubo(tmp_path, "b") as b:
        cid = rpc_add(a, data, pin="true")
        rpc(b, "swarm/connect", arg=a.swarm_addr)
        r = httpx.post(f"{b.api_url}/api/v0/cat", params={"arg": cid}, timeout=60.0)
        assert r.status_code == 200 and r.content == data


# --------------------------------------------------------------------------- DAG facts


def test_small_max_links_changes_dag_shape(node) -> None:
    """--max-file-links really caps the links per node: 20 chunks of 256 bytes at
    width 4 give root -> 2 nodes -> 5 nodes -> 20 leaves (the second root child
    is a single-child chain: balanced layout does not collapse it)."""
    data = content(3, 20 * 256)
    cid = rpc_add(node, data, **{"cid-version": "1", "raw-leaves": "true",
                                 "chunker": "size-256", "max-file-links": "4"})
    stat = rpc(node, "dag/stat", arg=cid, progress="false").json()
    assert stat["DagStats"][0]["NumBlocks"] == 20 + 5 + 2 + 1, stat
    root = rpc(node, "dag/get", arg=cid).json()
    assert len(root["Links"]) == 2
    first, second = (rpc(node, "dag/get", arg=lk["Hash"]["/"]).json() for lk in root["Links"])
    assert len(first["Links"]) == 4 and len(second["Links"]) == 1
    chain = rpc(node, "dag/get", arg=second["Links"][0]["Hash"]["/"]).json()
    assert len(chain["Links"]) == 4
    # the same file at the default width is a single level
    wide = rpc_add(node, data, **{"chunker": "size-256"})
    assert wide != cid
    assert len(rpc(node, "dag/get", arg=wide).json()["Links"]) == 20


def test_links_carry_an_empty_name(node) -> None:
    """Kubo writes PBLink.Name = "" explicitly (bytes 0x12 0x00), links before data."""
    data = content(5, MiB + 1)
    cid = rpc_add(node, data)
    block = rpc(node, "block/get", arg=cid).content
    leaf_cids = [lk["Hash"]["/"] for lk in rpc(node, "dag/get", arg=cid).json()["Links"]]
    assert len(leaf_cids) == 2
    assert block[0] == 0x12                         # field 2 (Links) first
    assert block.count(b"\x12\x00\x18") == 2        # Name "" then Tsize, in each link
    # Data last: UnixFS {Type: File, filesize: 1 MiB + 1, blocksizes: [1 MiB, 1]}
    assert block.endswith(b"\x0a\x0c" + b"\x08\x02" + b"\x18\x81\x80\x40"
                          + b"\x20\x80\x80\x40" + b"\x20\x01")


def test_config_max_links_equals_flag(tmp_path: Path) -> None:
    """Import.UnixFSFileMaxLinks in the repo config and --max-file-links agree."""
    data = content(9, 40 * 256)
    by_flag = kubo_add_only_hash(data, chunk_size=256, max_links=4, tmpdir=tmp_path)
    repo = tmp_path / "kubo-hash"
    set_config(repo, "Import.UnixFSFileMaxLinks", 4)
    set_config(repo, "Import.UnixFSChunker", "size-256")
    assert read_config(repo)["Import"]["UnixFSFileMaxLinks"] == 4
    by_config = ipfs_cli(repo, "add", "--only-hash", "-Q", "--", _write(tmp_path / "f", data)).strip()
    assert by_config == by_flag
    assert by_flag != kubo_add_only_hash(data, chunk_size=256, max_links=5, tmpdir=tmp_path)


def test_only_hash_path_and_bytes_agree(tmp_path: Path) -> None:
    data = content(11, 3000)
    p = Path(_write(tmp_path / "f", data))
    assert kubo_add_only_hash(p, chunk_size=1000, max_links=2, tmpdir=tmp_path) == \
        kubo_add_only_hash(data, chunk_size=1000, max_links=2, tmpdir=tmp_path)


def test_kubo_minimums(tmp_path: Path) -> None:
    """Kubo accepts 1-byte chunks and 2 links per node (and nothing smaller)."""
    data = content(12, 9)
    assert kubo_add_only_hash(data, chunk_size=1, max_links=2, tmpdir=tmp_path).startswith("bafybei")
    repo = tmp_path / "kubo-hash"
    with pytest.raises(KuboError, match="chunker size must be greater than 0"):
        ipfs_cli(repo, "add", "--only-hash", "-Q", "--chunker=size-0", input=data)
    with pytest.raises(ValueError):
        kubo_add_only_hash(data, max_links=1, tmpdir=tmp_path)   # Kubo would never finish


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)
