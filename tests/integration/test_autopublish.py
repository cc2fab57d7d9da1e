"""`publish = "auto"`: the server publishes its namespace after pushes go
quiet, with no CLI step, and a federating registry sees the result."""

from __future__ import annotations

import asyncio

import pytest

from sealedreg.publish.dnsupdate import current_txt
from tests.helpers.clients import ClientSandbox
from tests.helpers.knot import run_knot
from tests.helpers.kubo import run_kubo
from tests.helpers.ocilayout import write_image
from tests.helpers.server import free_port
from tests.integration.test_federation import org_config, pulled_digests, pushed_digests, serve, wait_for

pytestmark = pytest.mark.integration


def dnslink(address: str) -> list[str] | None:
    return asyncio.run(current_txt(address, "_dnslink.acme.test"))


def test_pushes_are_published_automatically(tmp_path):
    img = write_image(tmp_path / "img", layers=[200_000], seed=3, compresslevel=0, tag="1")
    with run_knot(tmp_path, ["acme.test", "partner.test"]) as knot, run_kubo(tmp_path, "a") as ka:
        ra = org_config(tmp_path, "acme.test", knot, ka, free_port(), secret=False,
                        extra='publish = "auto"\npublish_delay = 0.3')
        rb = org_config(tmp_path, "partner.test", knot, None, free_port())
        with serve(ra) as a, serve(rb) as b, ClientSandbox(tmp_path / "sb", a.address, b.address) as sb:
            wait_for("the start-up publish", lambda: dnslink(knot.address) is not None)
            first = dnslink(knot.address)
            sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:1",
                      f"docker://{a.address}/acme.test/app:1", debug=False)
            wait_for("the publish after the push", lambda: dnslink(knot.address) != first)
            assert pulled_digests(sb, f"docker://{b.address}/acme.test/app:1", tmp_path / "out") == pushed_digests(img)
            log = (ra.data.parent / f"sealedreg-{ra.port}.log").read_text()
            assert "published acme.test" in log and "failed" not in log
