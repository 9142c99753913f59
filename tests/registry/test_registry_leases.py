"""Leased instances: the reaper's decisions on a fake clock, and expiry seen through the API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from mesh.api.v1 import registry_pb2 as pb
from registry.errors import NotFound
from registry.leases import Reaper, seconds_until
from registry.store import Store
from registry.tables import Change
from registry.validation import InstanceRef, InstanceRegistration, validate_tool
from tests.registry.registry_harness import (
    WAIT,
    Launcher,
    Registry,
    WatchStream,
    make_tool,
    seconds,
)

START = 1_700_000_000.0  # the fake clock's epoch seconds at the start of each test


@dataclass
class FakeClock:
    now: float = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake_store(
    tmp_path: Path, echo: descriptor_pb2.FileDescriptorSet
) -> AsyncIterator[tuple[Store, FakeClock]]:
    clock = FakeClock()
    store = await Store.open(str(tmp_path / "leases.db"), clock=clock)
    await store.register_tool(validate_tool(make_tool("echo", echo)))
    try:
        yield store, clock
    finally:
        await store.close()


def _instance(instance_id: str, ttl: float) -> InstanceRegistration:
    return InstanceRegistration("echo", instance_id, f"127.0.0.1:{1000 + len(instance_id)}", ttl)


async def _instance_ids(store: Store) -> list[str]:
    return [instance.instance_id for instance in (await store.get_tool("echo")).instances]


def test_seconds_until() -> None:
    assert seconds_until(None, 5.0) is None
    assert seconds_until(7.5, 5.0) == 2.5
    assert seconds_until(4.0, 5.0) == 0.0


async def test_reaper_removes_each_expired_instance_as_its_own_change(
    fake_store: tuple[Store, FakeClock],
) -> None:
    store, clock = fake_store
    changes: list[Change] = []
    store.add_listener(changes.append)
    reaper = Reaper(store, clock)
    await store.register_instance(_instance("a", 5))
    await store.register_instance(_instance("bb", 5))
    await store.register_instance(_instance("ccc", 30))
    changes.clear()

    assert await reaper.reap_once() == 5.0  # sleeps until the first lease ends
    assert changes == []
    clock.now += 4.999
    assert await reaper.reap_once() == pytest.approx(0.001, abs=1e-6)
    assert await _instance_ids(store) == ["a", "bb", "ccc"]

    clock.now = START + 5  # a lease that ends now has ended
    assert await reaper.reap_once() == 25.0
    assert await _instance_ids(store) == ["ccc"]
    assert [change.version for change in changes] == [5, 6]  # one version per removal
    assert all(change.tool == "echo" and change.state is not None for change in changes)
    assert [i.instance_id for i in changes[-1].state.instances] == ["ccc"]  # type: ignore[union-attr]

    clock.now = START + 100
    assert await reaper.reap_once() is None  # nothing left: sleep until poked
    assert await _instance_ids(store) == []
    assert await store.version() == 7


async def test_heartbeat_keeps_an_instance_alive(fake_store: tuple[Store, FakeClock]) -> None:
    store, clock = fake_store
    reaper = Reaper(store, clock)
    await store.register_instance(_instance("a", 2))
    version = await store.version()
    for _ in range(5):
        clock.now += 1.5
        assert await store.heartbeat(InstanceRef("echo", "a")) == clock.now + 2
        await reaper.reap_once()
        assert await _instance_ids(store) == ["a"]
    assert await store.version() == version  # renewals are not changes

    clock.now += 2.5
    with pytest.raises(NotFound, match="lease expired"):
        await store.heartbeat(InstanceRef("echo", "a"))  # expired even before the reaper ran
    assert await _instance_ids(store) == []  # and reads no longer show it
    await reaper.reap_once()
    assert await store.version() == version + 1


async def test_reaper_wakes_when_poked(fake_store: tuple[Store, FakeClock]) -> None:
    store, clock = fake_store
    removed = asyncio.Event()
    store.add_listener(
        lambda change: removed.set() if not change.state or not change.state.instances else None
    )
    reaper = Reaper(store, clock)
    task = asyncio.create_task(reaper.run())
    try:
        await store.register_instance(_instance("a", 3600))
        clock.now += 3601  # on the fake clock the lease has ended; the reaper sleeps for an hour
        reaper.poke()
        await asyncio.wait_for(removed.wait(), WAIT)
        assert await _instance_ids(store) == []
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_leases_expired_while_down_are_removed_at_start(
    tmp_path: Path, echo: descriptor_pb2.FileDescriptorSet
) -> None:
    clock = FakeClock()
    db = tmp_path / "restart.db"
    store = await Store.open(str(db), clock=clock)
    await store.register_tool(validate_tool(make_tool("echo", echo)))
    await store.register_instance(_instance("old", 10))
    await store.register_instance(_instance("young", 100))
    await store.close()

    clock.now += 50  # the registry was down for 50 s
    store = await Store.open(str(db), clock=clock)
    try:
        assert await Reaper(store, clock).reap_once() == pytest.approx(50.0)
        assert await _instance_ids(store) == ["young"]
    finally:
        await store.close()


# -- through the API, on the real clock ---------------------------------------------------


@pytest.fixture
async def with_echo(launcher: Launcher, echo: descriptor_pb2.FileDescriptorSet) -> Registry:
    registry = await launcher.start()
    await registry.stub.RegisterTool(pb.RegisterToolRequest(tool=make_tool("echo", echo)))
    return registry


async def test_expired_lease_is_announced_and_dropped(with_echo: Registry) -> None:
    stub = with_echo.stub
    registered = await stub.RegisterInstance(
        pb.RegisterInstanceRequest(
            tool="echo", address="127.0.0.1:7001", instance_id="pod-1", ttl=seconds(1)
        )
    )
    assert registered.instance.instance_id == "pod-1"
    assert registered.instance.lease_expires_at.seconds > 0

    watch = WatchStream(stub, since_version=registered.version)
    try:
        expired = await watch.next()  # the reaper's removal, about a second later
        assert expired.version == registered.version + 1
        assert expired.upserted.tool.name == "echo"
        assert list(expired.upserted.instances) == []
    finally:
        watch.cancel()
    got = await stub.GetTool(pb.GetToolRequest(name="echo"))
    assert list(got.state.instances) == []


async def test_heartbeats_keep_a_lease_alive_past_its_ttl(with_echo: Registry) -> None:
    stub = with_echo.stub
    for pod in ("short", "kept"):
        await stub.RegisterInstance(
            pb.RegisterInstanceRequest(
                tool="echo", address="127.0.0.1:7002", instance_id=pod, ttl=seconds(1)
            )
        )
    watch = WatchStream(stub, since_version=(await stub.ListTools(pb.ListToolsRequest())).version)

    async def short_expires() -> pb.WatchResponse:
        return await watch.until(
            lambda m: "short" not in {i.instance_id for i in m.upserted.instances}
        )

    expiry = asyncio.create_task(short_expires())
    deadline = asyncio.get_running_loop().time() + WAIT
    try:
        last_end = 0
        while not expiry.done():
            assert asyncio.get_running_loop().time() < deadline, "the short lease never expired"
            beat = await stub.Heartbeat(pb.HeartbeatRequest(tool="echo", instance_id="kept"))
            assert beat.lease_expires_at.ToNanoseconds() > last_end
            last_end = beat.lease_expires_at.ToNanoseconds()
            # Waits for the expiry, giving up every 0.2 s to heartbeat again (TTL is 1 s).
            await asyncio.wait([expiry], timeout=0.2)
        message = expiry.result()
    finally:
        expiry.cancel()
        watch.cancel()
    assert {i.instance_id for i in message.upserted.instances} == {"kept"}
    got = await stub.GetTool(pb.GetToolRequest(name="echo"))
    assert [i.instance_id for i in got.state.instances] == ["kept"]


async def test_register_instance_defaults(with_echo: Registry) -> None:
    response = await with_echo.stub.RegisterInstance(
        pb.RegisterInstanceRequest(tool="echo", address="unix:///run/e.sock")
    )
    assert response.instance.instance_id == "unix:/run/e.sock"  # the (canonical) address
    got = await with_echo.stub.GetTool(pb.GetToolRequest(name="echo"))
    (instance,) = got.state.instances
    lease = instance.lease_expires_at.ToNanoseconds() / 1e9
    registered_at = lease - 10  # default TTL
    assert instance.lease_expires_at == response.instance.lease_expires_at
    assert abs(registered_at - time.time()) < 5
    gone = await with_echo.stub.DeregisterInstance(
        pb.DeregisterInstanceRequest(tool="echo", instance_id="unix:/run/e.sock")
    )
    assert gone.version == response.version + 1
    got = await with_echo.stub.GetTool(pb.GetToolRequest(name="echo"))
    assert list(got.state.instances) == []
