"""`gc_interval`: serve's background collection runs, frees, and survives a failure."""

from __future__ import annotations

import asyncio

from sealedreg.api.app import _collect_periodically
from sealedreg.config import load
from sealedreg.registry.digests import Digest
from sealedreg.wiring import open_registry


def test_the_janitor_collects_and_keeps_going_after_a_failure(tmp_path, monkeypatch):
    async def go():
        registry = open_registry(load(env={}, overrides={"data": tmp_path / "data"}))
        session = await registry.start_upload("x.org/a")

        async def body():
            yield b"orphan"

        await registry.commit_upload("x.org/a", session.id, Digest.of(b"orphan"), body())
        real_collect = registry.index.collect
        calls = []

        async def flaky(*args, **kw):
            calls.append(1)
            if len(calls) == 1:
                raise OSError("disk hiccup")
            return await real_collect(*args, **kw)

        monkeypatch.setattr(registry.index, "collect", flaky)
        janitor = asyncio.create_task(_collect_periodically(registry, 0.01, 0))
        try:
            while await registry.index.blob(str(Digest.of(b"orphan")), "global") is not None:
                assert not janitor.done()
                await asyncio.sleep(0.01)  # the janitor's own period
        finally:
            janitor.cancel()
            await registry.close()
        assert len(calls) >= 2

    asyncio.run(go())
