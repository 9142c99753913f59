"""RegistryWatcher against a scripted registry (a real grpc.aio server on 127.0.0.1:0)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import grpc
import pytest

from mesh.api.v1 import registry_pb2
from sidecar.backoff import BackoffPolicy
from sidecar.cache import read_snapshot, snapshot_message, write_snapshot
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.watch import RegistryWatcher

from .catalog_waiter import CatalogWaiter
from .compiled import bare_tool
from .fake_registry import FakeRegistry, removed, snapshot, upserted

FAST = BackoffPolicy(initial_s=0.01, multiplier=2.0, max_s=0.05)


def names(catalog: Catalog) -> list[str]:
    return sorted(catalog.tools)


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.holder = CatalogHolder()
        self.waiter = CatalogWaiter(self.holder)
        self.cache = tmp_path / "cache" / "snapshot.pb"
        self.watchers: list[RegistryWatcher] = []

    def watcher(self, address: str, **kwargs: object) -> RegistryWatcher:
        watcher = RegistryWatcher(
            self.holder,
            address,
            str(self.cache),
            rng=random.Random(7),
            backoff=FAST,
            **kwargs,  # type: ignore[arg-type]
        )
        self.watchers.append(watcher)
        return watcher

    async def until(self, predicate: Callable[[Catalog], bool]) -> Catalog:
        return await self.waiter.until(predicate, timeout=1.0)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    try:
        yield h
    finally:
        for watcher in h.watchers:
            await watcher.stop()


async def started(
    harness: Harness, registry: FakeRegistry, first: registry_pb2.WatchResponse, **kwargs: object
) -> tuple[RegistryWatcher, object]:
    """A watcher started against `registry`, which answered its first Watch with `first`."""
    watcher = harness.watcher(registry.address, **kwargs)
    start = asyncio.create_task(watcher.start(wait_s=2.0))
    stream = await registry.next_stream()
    assert stream.request.since_version == 0
    stream.send(first)
    await asyncio.wait_for(start, 2.0)
    return watcher, stream


async def test_first_snapshot_becomes_the_catalog(harness: Harness, registry: FakeRegistry) -> None:
    first = snapshot(5, "store-a", bare_tool("alpha", "a.v1.A"), bare_tool("beta", "b.v1.B"))
    watcher, _ = await started(harness, registry, first)
    catalog = harness.holder.catalog
    assert names(catalog) == ["alpha", "beta"]
    assert (catalog.version, catalog.store_id, catalog.from_cache) == (5, "store-a", False)
    assert "a.v1.A" in catalog.by_service
    assert watcher.connected
    assert watcher.version == 5
    assert watcher.last_update_monotonic is not None


async def test_upserts_and_removals_are_pushed_at_once(
    harness: Harness, registry: FakeRegistry
) -> None:
    _, stream = await started(harness, registry, snapshot(1, "s", bare_tool("alpha", "a.v1.A")))
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    stream.send(upserted(2, "s", bare_tool("beta", "b.v1.B")))  # type: ignore[attr-defined]
    catalog = await harness.until(lambda c: "beta" in c.tools)
    assert loop.time() - sent_at < 1.0  # pushed, not polled
    assert (catalog.version, names(catalog)) == (2, ["alpha", "beta"])

    stream.send(removed(3, "s", "alpha"))  # type: ignore[attr-defined]
    catalog = await harness.until(lambda c: "alpha" not in c.tools)
    assert (catalog.version, names(catalog)) == (3, ["beta"])
    assert "a.v1.A" not in catalog.by_service


async def test_changed_tool_replaces_the_old_definition_and_others_are_reused(
    harness: Harness, registry: FakeRegistry
) -> None:
    first = snapshot(1, "s", bare_tool("alpha", "a.v1.A"), bare_tool("beta", "b.v1.B"))
    _, stream = await started(harness, registry, first)
    beta_before = harness.holder.catalog.tools["beta"]
    stream.send(upserted(2, "s", bare_tool("alpha", "a.v2.A")))  # type: ignore[attr-defined]
    catalog = await harness.until(lambda c: c.version == 2)
    assert "a.v2.A" in catalog.by_service and "a.v1.A" not in catalog.by_service
    assert catalog.tools["beta"] is beta_before  # unchanged tools keep their entry


async def test_reconnect_resumes_from_the_last_applied_version(
    harness: Harness, registry: FakeRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sidecar.watch")
    watcher, stream = await started(harness, registry, snapshot(5, "s", bare_tool("a", "a.A")))
    stream.send(upserted(6, "s", bare_tool("b", "b.B")))  # type: ignore[attr-defined]
    await harness.until(lambda c: c.version == 6)
    stream.close()  # type: ignore[attr-defined]

    resumed = await registry.next_stream()
    assert resumed.request.since_version == 6
    resumed.send(upserted(7, "s", bare_tool("c", "c.C")))
    catalog = await harness.until(lambda c: c.version == 7)
    assert names(catalog) == ["a", "b", "c"]
    assert watcher.connected
    messages = [r.getMessage() for r in caplog.records]
    assert any("lost the watch stream" in m for m in messages)
    assert any("connected; resuming from version 6" in m for m in messages)


async def test_reconnects_after_the_stream_fails(harness: Harness, registry: FakeRegistry) -> None:
    _, stream = await started(harness, registry, snapshot(3, "s", bare_tool("a", "a.A")))
    stream.fail(grpc.StatusCode.INTERNAL)  # type: ignore[attr-defined]
    resumed = await registry.next_stream()
    assert resumed.request.since_version == 3


async def test_store_change_drops_everything_for_the_new_snapshot(
    harness: Harness, registry: FakeRegistry
) -> None:
    first = snapshot(40, "old", bare_tool("a", "a.A"), bare_tool("b", "b.B"))
    watcher, stream = await started(harness, registry, first)
    stream.close()  # type: ignore[attr-defined]
    resumed = await registry.next_stream()
    assert resumed.request.since_version == 40
    resumed.send(snapshot(2, "new", bare_tool("c", "c.C")))
    catalog = await harness.until(lambda c: c.store_id == "new")
    assert (names(catalog), catalog.version) == (["c"], 2)
    assert watcher.version == 2 and watcher.store_id == "new"


async def test_store_change_keeps_the_old_catalog_until_the_snapshot(
    harness: Harness, registry: FakeRegistry
) -> None:
    _, stream = await started(harness, registry, snapshot(40, "old", bare_tool("a", "a.A")))
    stream.send(upserted(1, "new", bare_tool("c", "c.C")))  # type: ignore[attr-defined]
    stream.send(snapshot(2, "new", bare_tool("d", "d.D")))  # type: ignore[attr-defined]
    catalog = await harness.until(lambda c: c.store_id == "new")
    # No catalog of the new store was published before its snapshot.
    assert [c.store_id for c in harness.waiter.seen] == ["old", "new"]
    assert (names(catalog), catalog.version) == (["d"], 2)


async def test_stale_deltas_are_ignored(harness: Harness, registry: FakeRegistry) -> None:
    _, stream = await started(harness, registry, snapshot(10, "s", bare_tool("a", "a.A")))
    stream.send(upserted(9, "s", bare_tool("old", "o.O")))  # type: ignore[attr-defined]
    stream.send(upserted(11, "s", bare_tool("new", "n.N")))  # type: ignore[attr-defined]
    catalog = await harness.until(lambda c: c.version == 11)
    assert names(catalog) == ["a", "new"]


async def test_token_is_sent_as_bearer(harness: Harness, registry: FakeRegistry) -> None:
    _, stream = await started(harness, registry, snapshot(1, "s"), token="s3cret")
    assert stream.metadata["authorization"] == "Bearer s3cret"  # type: ignore[attr-defined]


async def test_state_is_persisted_to_the_cache(harness: Harness, registry: FakeRegistry) -> None:
    watcher, stream = await started(harness, registry, snapshot(1, "s", bare_tool("a", "a.A")))
    for version in range(2, 22):  # a burst: coalesced into very few writes
        stream.send(upserted(version, "s", bare_tool(f"t{version}", f"t{version}.S")))  # type: ignore[attr-defined]
    await harness.until(lambda c: c.version == 21)
    await watcher.stop()
    cached = read_snapshot(harness.cache)
    assert cached is not None
    assert (cached.version, cached.store_id) == (21, "s")
    assert len(cached.tools) == 21
    assert 1 <= watcher.cache_writes <= 3


async def test_start_serves_the_cache_when_the_registry_is_unreachable(
    harness: Harness, dead_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    tools = [bare_tool(name, f"{name}.v1.S") for name in ("a", "b", "c")]
    write_snapshot(harness.cache, snapshot_message(42, "s", tools))
    watcher = harness.watcher(dead_address)
    with caplog.at_level(logging.INFO, logger="sidecar.watch"):
        await watcher.start(wait_s=0.3)
    catalog = harness.holder.catalog
    assert (names(catalog), catalog.version, catalog.from_cache) == (["a", "b", "c"], 42, True)
    assert not watcher.connected
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1, lines  # one clear line, not one per failed attempt
    assert "serving 3 tools from cache" in lines[0]
    assert f"registry {dead_address} unreachable (UNAVAILABLE" in lines[0]
    assert str(harness.cache) in lines[0] and "version 42" in lines[0]
    assert "written 20" in lines[0]


async def test_start_with_neither_registry_nor_cache_is_empty_and_says_so(
    harness: Harness, dead_address: str, caplog: pytest.LogCaptureFixture
) -> None:
    watcher = harness.watcher(dead_address)
    with caplog.at_level(logging.INFO, logger="sidecar.watch"):
        await watcher.start(wait_s=0.2)
    assert harness.holder.catalog.tools == {}
    assert any(
        "no usable snapshot cache" in r.getMessage() and str(harness.cache) in r.getMessage()
        for r in caplog.records
    )


async def test_registry_coming_back_after_cache_fallback_takes_over(
    harness: Harness, dead_address: str
) -> None:
    write_snapshot(harness.cache, snapshot_message(42, "s", [bare_tool("a", "a.S")]))
    watcher = harness.watcher(dead_address)
    await watcher.start(wait_s=0.2)
    assert harness.holder.catalog.from_cache

    registry = FakeRegistry()
    await registry.start(port=int(dead_address.rpartition(":")[2]))
    try:
        stream = await registry.next_stream()
        assert stream.request.since_version == 42  # resumes from the cached version
        # Connected but nothing changed since 42: the state is confirmed, no longer "cached".
        catalog = await harness.until(lambda c: not c.from_cache)
        assert (catalog.version, names(catalog)) == (42, ["a"])
        assert watcher.connected
        stream.send(upserted(43, "s", bare_tool("b", "b.S")))
        catalog = await harness.until(lambda c: c.version == 43)
        assert names(catalog) == ["a", "b"]
    finally:
        await watcher.stop()
        await registry.stop()


async def test_start_waits_for_a_registry_that_comes_up_late(
    harness: Harness, dead_address: str
) -> None:
    watcher = harness.watcher(dead_address)
    start = asyncio.create_task(watcher.start(wait_s=3.0))
    registry = FakeRegistry()
    await registry.start(port=int(dead_address.rpartition(":")[2]))
    try:
        stream = await registry.next_stream()
        stream.send(snapshot(1, "s", bare_tool("a", "a.S")))
        await asyncio.wait_for(start, 2.0)
        assert not harness.holder.catalog.from_cache and names(harness.holder.catalog) == ["a"]
    finally:
        await watcher.stop()
        await registry.stop()


async def test_stop_ends_the_background_task(harness: Harness, registry: FakeRegistry) -> None:
    watcher, _ = await started(harness, registry, snapshot(1, "s"))
    await watcher.stop()
    assert not watcher.connected
    with pytest.raises(TimeoutError):
        await registry.next_stream(timeout=0.2)  # no reconnection after stop
