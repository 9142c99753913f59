"""Watch: snapshot, live changes, resume (also across restarts), other stores, slow watchers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from google.protobuf import descriptor_pb2

from mesh.api.v1 import registry_pb2 as pb
from registry.store import Store
from registry.tables import Change
from registry.validation import validate_tool
from registry.watch import HubClosed, WatcherOverflow, WatchHub, initial_messages
from tests.registry.registry_harness import (
    MATH_SERVICE,
    TEXT_SERVICE,
    WAIT,
    Launcher,
    Registry,
    WatchStream,
    make_tool,
)

DescriptorSet = descriptor_pb2.FileDescriptorSet


def _tool(name: str, descriptors: DescriptorSet, **fields: object) -> pb.RegisterToolRequest:
    return pb.RegisterToolRequest(tool=make_tool(name, descriptors, **fields))  # type: ignore[arg-type]


def _apply(held: dict[str, pb.ToolState], message: pb.WatchResponse) -> None:
    """What a watcher does with one message."""
    kind = message.WhichOneof("event")
    if kind == "snapshot":
        held.clear()
        held.update({state.tool.name: state for state in message.snapshot.tools})
    elif kind == "upserted":
        held[message.upserted.tool.name] = message.upserted
    else:
        held.pop(message.removed, None)


async def test_snapshot_first_then_each_change(
    registry: Registry, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    stub = registry.stub
    await stub.RegisterTool(_tool("echo", echo))
    watch = WatchStream(stub)
    try:
        first = await watch.next()
        assert first.version == 1
        assert first.store_id == registry.running.store.store_id
        assert [state.tool.name for state in first.snapshot.tools] == ["echo"]

        await stub.RegisterTool(_tool("multi", multi))
        await stub.AddEndpoints(
            pb.AddEndpointsRequest(tool="multi", endpoints=[pb.Endpoint(address="h:1")])
        )
        await stub.DeregisterTool(pb.DeregisterToolRequest(name="echo"))
        messages = [await watch.next() for _ in range(3)]
    finally:
        watch.cancel()
    assert [m.version for m in messages] == [2, 3, 4]
    assert [m.WhichOneof("event") for m in messages] == ["upserted", "upserted", "removed"]
    assert messages[0].upserted.tool.name == "multi"
    assert [e.address for e in messages[1].upserted.tool.endpoints] == ["h:1"]
    assert messages[1].upserted.tool.revision == 3
    assert messages[2].removed == "echo"
    assert {m.store_id for m in messages} == {first.store_id}


async def test_empty_registry_sends_an_empty_snapshot(registry: Registry) -> None:
    watch = WatchStream(registry.stub)
    try:
        first = await watch.next()
    finally:
        watch.cancel()
    assert first.WhichOneof("event") == "snapshot"
    assert (first.version, list(first.snapshot.tools)) == (0, [])


async def test_resume_sends_each_changed_tool_once_at_its_last_version(
    registry: Registry, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    stub = registry.stub
    await stub.RegisterTool(_tool("a", echo))  # 1
    await stub.RegisterTool(_tool("b", multi))  # 2: the watcher applied up to here
    await stub.RegisterTool(_tool("a", echo, version="2"))  # 3
    await stub.AddEndpoints(
        pb.AddEndpointsRequest(tool="b", endpoints=[pb.Endpoint(address="h:1")])
    )  # 4
    await stub.RegisterTool(_tool("a", echo, version="3"))  # 5
    await stub.DeregisterTool(pb.DeregisterToolRequest(name="b"))  # 6

    watch = WatchStream(stub, since_version=2)
    try:
        missed = [await watch.next(), await watch.next()]
        await stub.SetPolicy(pb.SetPolicyRequest(tool="a"))  # 7, live
        live = await watch.next()
    finally:
        watch.cancel()
    assert [(m.version, m.WhichOneof("event")) for m in missed] == [(5, "upserted"), (6, "removed")]
    assert missed[0].upserted.tool.version == "3"
    assert missed[1].removed == "b"
    assert (live.version, live.upserted.tool.name) == (7, "a")


async def test_resume_at_the_current_version_sends_only_live_changes(
    registry: Registry, echo: DescriptorSet
) -> None:
    await registry.stub.RegisterTool(_tool("echo", echo))
    watch = WatchStream(registry.stub, since_version=1)
    try:
        await registry.stub.SetPolicy(pb.SetPolicyRequest(tool="echo"))
        message = await watch.next()
    finally:
        watch.cancel()
    assert (message.version, message.upserted.tool.name) == (2, "echo")


async def test_resume_across_a_restart_on_the_same_file(
    launcher: Launcher, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    first = await launcher.start()
    await first.stub.RegisterTool(_tool("echo", echo))
    await first.stub.RegisterTool(_tool("multi", multi))
    store_id = first.running.store.store_id
    await launcher.stop(first)

    second = await launcher.start(first.db)
    assert second.running.store.store_id == store_id
    registered = await second.stub.RegisterTool(_tool("echo", echo, version="2"))
    assert registered.version == 3  # versions survive the restart
    watch = WatchStream(second.stub, since_version=2)
    try:
        missed = await watch.next()
        await second.stub.DeregisterTool(pb.DeregisterToolRequest(name="multi"))
        live = await watch.next()
    finally:
        watch.cancel()
    assert (missed.version, missed.upserted.tool.version, missed.store_id) == (3, "2", store_id)
    assert (live.version, live.removed) == (4, "multi")


async def test_a_version_from_another_store_gets_a_snapshot(
    launcher: Launcher, tmp_path: Path, echo: DescriptorSet
) -> None:
    other = await launcher.start(tmp_path / "other.db")
    for version in ("1", "2", "3"):
        await other.stub.RegisterTool(_tool("echo", echo, version=version))
    fresh = await launcher.start(tmp_path / "fresh.db")
    await fresh.stub.RegisterTool(_tool("echo", echo))
    assert fresh.running.store.store_id != other.running.store.store_id

    watch = WatchStream(fresh.stub, since_version=3)  # ahead of this store: not its version
    try:
        first = await watch.next()
    finally:
        watch.cancel()
    assert first.WhichOneof("event") == "snapshot"
    assert first.version == 1
    assert first.store_id == fresh.running.store.store_id


async def test_the_same_version_of_another_store_gets_a_snapshot(
    launcher: Launcher, tmp_path: Path, echo: DescriptorSet
) -> None:
    """Equal version numbers from two stores: only the store id tells them apart."""
    other = await launcher.start(tmp_path / "other.db")
    await other.stub.RegisterTool(_tool("echo", echo, version="other"))
    fresh = await launcher.start(tmp_path / "fresh.db")
    await fresh.stub.RegisterTool(_tool("echo", echo, version="fresh"))
    watch = WatchStream(fresh.stub, since_version=1, store_id=other.running.store.store_id)
    try:
        first = await watch.next()
    finally:
        watch.cancel()
    assert first.WhichOneof("event") == "snapshot"
    assert first.snapshot.tools[0].tool.version == "fresh"


async def test_a_version_older_than_the_change_log_gets_a_snapshot(
    tmp_path: Path, echo: DescriptorSet
) -> None:
    store = await Store.open(str(tmp_path / "trim.db"), change_log_limit=3)
    try:
        for version in range(6):
            await store.register_tool(validate_tool(make_tool("echo", echo, version=str(version))))
        trimmed = await store.watch_start(2)  # changes 3..6 are needed, only 4..6 are kept
        assert trimmed.snapshot is not None and trimmed.version == 6
        kept = await store.watch_start(3)
        assert kept.snapshot is None
        assert [(c.version, c.tool) for c in kept.changes] == [(6, "echo")]
        messages = list(initial_messages(kept, store.store_id))
        assert [(m.version, m.upserted.tool.version) for m in messages] == [(6, "5")]
    finally:
        await store.close()


async def test_watchers_joining_during_writes_miss_nothing(
    registry: Registry, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    stub = registry.stub
    await stub.RegisterTool(_tool("marker", multi, services=[TEXT_SERVICE]))
    rounds = 20

    async def watch_until_marker_removed() -> dict[str, pb.ToolState]:
        held: dict[str, pb.ToolState] = {}
        watch = WatchStream(stub)
        try:
            previous = -1
            while "marker" in held or previous < 0:
                message = await watch.next()
                # After the snapshot every change is sent on its own: no version is skipped.
                assert previous < 0 or message.version == previous + 1
                previous = message.version
                _apply(held, message)
            return held
        finally:
            watch.cancel()

    async def write(name: str, descriptors: DescriptorSet, services: list[str], port: int) -> None:
        for index in range(rounds):
            await stub.RegisterTool(_tool(name, descriptors, services=services, version=str(index)))
            if index % 4 == 1:
                endpoint = pb.Endpoint(address=f"127.0.0.1:{port + index}")
                await stub.AddEndpoints(pb.AddEndpointsRequest(tool=name, endpoints=[endpoint]))
            if index % 5 == 2:
                instance = pb.RegisterInstanceRequest(
                    tool=name, address=f"127.0.0.1:{port + index}"
                )
                await stub.RegisterInstance(instance)

    # Concurrent writers keep changes queued at the store, so watchers subscribe while
    # changes commit between their subscription and their first read.
    writers = [
        asyncio.create_task(write("echo", echo, [], 2000)),
        asyncio.create_task(write("math", multi, [MATH_SERVICE], 3000)),
    ]
    watchers = []
    for _ in range(6):
        await stub.ListTools(pb.ListToolsRequest())  # lets some writes through
        watchers.append(asyncio.create_task(watch_until_marker_removed()))
    await asyncio.wait_for(asyncio.gather(*writers), WAIT * 2)
    await stub.DeregisterTool(pb.DeregisterToolRequest(name="marker"))
    final = await stub.ListTools(pb.ListToolsRequest())
    assert final.version == 1 + 2 * (rounds + 5 + 4) + 1

    for held in await asyncio.wait_for(asyncio.gather(*watchers), WAIT * 2):
        assert sorted(held) == ["echo", "math"]
        for state in final.tools:
            assert held[state.tool.name].tool == state.tool
            assert held[state.tool.name].instances == state.instances


def _synthetic(version: int) -> Change:
    return Change(version, "echo", None)


async def test_hub_drops_a_watcher_that_falls_behind() -> None:
    hub = WatchHub(queue_limit=2)
    slow, fast = hub.subscribe(), hub.subscribe()
    hub.publish(_synthetic(1))
    hub.publish(_synthetic(2))  # slow holds 1 and 2: full
    assert [(await fast.next_change()).version for _ in range(2)] == [1, 2]
    assert not slow.overflowed
    hub.publish(_synthetic(3))
    assert slow.overflowed
    with pytest.raises(WatcherOverflow, match="more than 2 changes behind"):
        await slow.next_change()
    assert (await fast.next_change()).version == 3  # the others carry on
    slow.cancel()
    assert hub.subscriber_count == 1
    hub.close()
    with pytest.raises(HubClosed):
        await fast.next_change()
    with pytest.raises(HubClosed):
        await hub.subscribe().next_change()


async def test_a_slow_watch_stream_ends_with_resource_exhausted(
    launcher: Launcher, echo: DescriptorSet
) -> None:
    registry = await launcher.start(watch_queue_limit=3)
    await registry.stub.RegisterTool(_tool("echo", echo))
    watch = WatchStream(registry.stub)
    try:
        assert (await watch.next()).version == 1
        # Four changes arrive before the stream's handler gets to run: one too many.
        for version in range(2, 6):
            registry.running.hub.publish(_synthetic(version))
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await watch.next()
    finally:
        watch.cancel()
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "resume with since_version=1" in (ended.value.details() or "")
    assert registry.running.hub.subscriber_count == 0
    # The registry itself is unaffected.
    assert (await registry.stub.SetPolicy(pb.SetPolicyRequest(tool="echo"))).version == 2


async def test_watchers_are_told_when_the_registry_stops(
    launcher: Launcher, echo: DescriptorSet
) -> None:
    registry = await launcher.start()
    await registry.stub.RegisterTool(_tool("echo", echo))
    watch = WatchStream(registry.stub)
    try:
        assert (await watch.next()).version == 1
        await registry.running.stop(grace=1)
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await watch.next()
    finally:
        watch.cancel()
        launcher.running.remove(registry)
        await registry.channel.close(None)
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "resume with since_version=1" in (ended.value.details() or "")
