"""Policies applied by the relay to real calls: retries, budget, breaker, ejection, deadlines,
hedging, fallback, concurrency limit, live policy changes. Real probe servers on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import grpc
import pytest
from google.protobuf import wrappers_pb2
from google.rpc import error_details_pb2, status_pb2

from mesh.api.v1 import registry_pb2
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.relay.relay import Relay
from tests.relay.probe import CHANNEL_OPTIONS, HANG, UNARY, Probe, tool_state

IDEMPOTENT_UNARY = "methods: {Unary: {idempotent: true}}\n"


def pack(data: bytes) -> bytes:
    return wrappers_pb2.BytesValue(value=data).SerializeToString()


@dataclass
class Fleet:
    """Probe instances of one tool behind a relay; `set_policy` pushes a new catalog."""

    relay: Relay
    holder: CatalogHolder
    channel: grpc.aio.Channel
    probes: list[Probe]
    addresses: list[str]
    servers: list[grpc.aio.Server]

    def set_policy(
        self, policy: str, *extra: object, addresses: Sequence[str] | None = None
    ) -> None:
        states = [tool_state("probe", list(addresses or self.addresses), policy), *extra]
        version = self.holder.catalog.version + 1
        self.holder.replace(Catalog.build(states, version=version, store_id="t"))  # type: ignore[arg-type]

    @property
    def tool_calls(self) -> int:
        return sum(p.state.calls for p in self.probes)

    def unary(self, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.channel.unary_unary(UNARY)(pack(b"x"), **kwargs)


async def start_probes(probes: Sequence[Probe]) -> tuple[list[grpc.aio.Server], list[str]]:
    servers, addresses = [], []
    for probe in probes:
        server = grpc.aio.server(options=CHANNEL_OPTIONS)
        server.add_generic_rpc_handlers((probe.handler(),))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        addresses.append(f"127.0.0.1:{port}")
    return servers, addresses


@contextlib.asynccontextmanager
async def running_fleet(probes: list[Probe]) -> AsyncIterator[Fleet]:
    """`probes` served on loopback, one tool (no policy yet) behind a relay."""
    servers, addresses = await start_probes(probes)
    holder = CatalogHolder()
    relay = Relay(holder)
    host, port = await relay.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=CHANNEL_OPTIONS)
    fleet = Fleet(relay, holder, channel, probes, addresses, servers)
    fleet.set_policy("")
    try:
        yield fleet
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        for server in servers:
            await server.stop(None)


@pytest.fixture
async def fleet() -> AsyncIterator[Fleet]:
    async with running_fleet([Probe(f"p{i}", seed=i) for i in range(3)]) as running:
        yield running


async def outcomes(
    fleet: Fleet, count: int, metadata: tuple[tuple[str, str], ...] = ()
) -> list[grpc.aio.AioRpcError | bytes]:
    """`count` calls, 50 at a time; each result or error."""
    results: list[grpc.aio.AioRpcError | bytes] = []
    for start in range(0, count, 50):
        batch = [fleet.unary(metadata=metadata, timeout=10) for _ in range(min(50, count - start))]
        for result in await asyncio.gather(*batch, return_exceptions=True):
            assert isinstance(result, (bytes, grpc.aio.AioRpcError)), result
            results.append(result)
    return results


def error_info(error: grpc.aio.AioRpcError) -> error_details_pb2.ErrorInfo | None:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)  # type: ignore[arg-type]
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return info
    return None


async def test_retries_hide_a_ten_percent_failure_rate(fleet: Fleet) -> None:
    fleet.set_policy(
        IDEMPOTENT_UNARY + "retry: {max_attempts: 3, initial_backoff: 1ms, max_backoff: 5ms}\n"
        "circuit_breaker: {enabled: false}\noutlier_detection: {enabled: false}"
    )
    results = await outcomes(fleet, 2000, (("x-fail-rate", "0.1"),))
    succeeded = sum(isinstance(r, bytes) for r in results)
    assert succeeded >= 0.995 * 2000
    assert fleet.tool_calls <= 1.3 * 2000


async def test_the_retry_budget_not_the_attempt_count_bounds_a_failing_tool(fleet: Fleet) -> None:
    fleet.set_policy(
        IDEMPOTENT_UNARY
        + "retry: {max_attempts: 5, initial_backoff: 1ms, max_backoff: 2ms, budget_ratio: 0.2,"
        " budget_min_per_second: 1, budget_window: 10s}\n"
        "circuit_breaker: {enabled: false}\noutlier_detection: {enabled: false}"
    )
    started = time.monotonic()
    results = await outcomes(fleet, 500, (("x-fail-rate", "0.5"),))
    elapsed = time.monotonic() - started
    floor = 1 * (10 + elapsed)  # budget_min_per_second over the window (and the run)
    assert fleet.tool_calls <= (1 + 0.2) * 500 + floor
    refused = [
        r
        for r in results
        if isinstance(r, grpc.aio.AioRpcError)
        and (info := error_info(r))
        and info.reason == "RETRY_BUDGET_EXHAUSTED"
    ]
    assert refused, "some calls must have been refused a retry"
    for error in refused:
        assert error.code() == grpc.StatusCode.UNAVAILABLE  # the tool's own status
        info = error_info(error)
        assert info is not None and info.metadata["tool"] == "probe"


async def test_a_method_not_known_to_be_idempotent_is_never_sent_twice(fleet: Fleet) -> None:
    fleet.set_policy("retry: {max_attempts: 5}\ncircuit_breaker: {enabled: false}")
    for probe in fleet.probes:
        probe.failing = True
    results = await outcomes(fleet, 50)
    assert all(isinstance(r, grpc.aio.AioRpcError) for r in results)
    assert fleet.tool_calls == 50


async def test_a_killed_instance_is_ejected_and_no_call_fails(fleet: Fleet) -> None:
    fleet.set_policy("outlier_detection: {consecutive_failures: 2, base_ejection_time: 30s}")
    await fleet.servers[0].stop(None)
    results = await outcomes(fleet, 200)
    assert all(isinstance(r, bytes) for r in results), [
        r for r in results if not isinstance(r, bytes)
    ][:3]
    runtime = next(iter(fleet.relay.routes._runtimes.values()))[1]
    assert runtime.outlier.ejected_count == 1


async def test_a_breaker_opens_fails_fast_half_opens_and_closes(fleet: Fleet) -> None:
    fleet.set_policy(
        "circuit_breaker: {consecutive_failures: 3, open_for: 200ms, half_open_calls: 1}\n"
        "outlier_detection: {enabled: false}"
    )
    for probe in fleet.probes:
        probe.failing = True
    for _ in range(3):
        with pytest.raises(grpc.aio.AioRpcError):
            await fleet.unary(timeout=5)
    seen = fleet.tool_calls
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fleet.unary(timeout=5)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    info = error_info(refused.value)
    assert info is not None and info.reason == "CIRCUIT_OPEN"
    assert fleet.tool_calls == seen  # failed fast: the tool never saw it
    for probe in fleet.probes:
        probe.failing = False  # the tool recovers
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 3
    while True:  # half-open after open_for: the first call probes and closes the circuit
        try:
            await fleet.unary(timeout=5)
            break
        except grpc.aio.AioRpcError as error:
            assert loop.time() < deadline, error
            await asyncio.sleep(0.05)
    assert all(isinstance(r, bytes) for r in await outcomes(fleet, 20))


async def test_a_hung_tool_is_cut_off_at_the_deadline(fleet: Fleet) -> None:
    fleet.set_policy("timeout: 300ms")
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fleet.channel.unary_unary(HANG)(pack(b""), timeout=10)
    assert time.monotonic() - started < 2
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    info = error_info(raised.value)
    assert info is not None and info.reason == "DEADLINE_EXCEEDED"
    # The tool saw its call cancelled.
    waits = [asyncio.ensure_future(p.state.cancelled.wait()) for p in fleet.probes]
    _, pending = await asyncio.wait(waits, timeout=5, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert any(p.state.cancelled.is_set() for p in fleet.probes)


async def test_the_tool_enforcing_the_deadline_first_still_gets_the_mesh_error(
    fleet: Fleet,
) -> None:
    # The tool's timer and the relay's fire together; whichever is processed first, the agent
    # gets the same answer.
    fleet.set_policy("timeout: 300ms")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fleet.unary(timeout=10, metadata=(("x-expire-early-ms", "5"),))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    info = error_info(raised.value)
    assert info is not None and info.reason == "DEADLINE_EXCEEDED"


async def test_a_tool_deadline_error_well_before_the_deadline_is_the_tools_own(
    fleet: Fleet,
) -> None:
    fleet.set_policy("timeout: 2s")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fleet.unary(timeout=10, metadata=(("x-expire-early-ms", "1500"),))
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "ran out of time" in (raised.value.details() or "")
    assert error_info(raised.value) is None


async def test_a_hedge_beats_a_slow_instance_and_the_loser_is_cancelled() -> None:
    slow, fast = Probe("slow", delay_s=2.0), Probe("fast")
    async with running_fleet([slow, fast]) as fleet:
        fleet.set_policy(
            IDEMPOTENT_UNARY + "hedging: {enabled: true, delay: 50ms}\nload_balancing: round_robin"
        )
        for _ in range(4):
            started = time.monotonic()
            raw = await fleet.unary(timeout=10)
            assert wrappers_pb2.BytesValue.FromString(raw).value == b"fast:x"
            assert time.monotonic() - started < 1.5
        assert slow.state.calls >= 1  # round robin sent some calls to the slow one first
        await asyncio.wait_for(slow.state.cancelled.wait(), 5)


@contextlib.asynccontextmanager
async def backup_tool() -> AsyncIterator[tuple[Probe, registry_pb2.ToolState]]:
    """A fallback tool named "backup": a probe serving `Unary` under its own service name,
    and the tool's state to put in the catalog."""
    backup_probe = Probe("backup")
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    unary = grpc.unary_unary_rpc_method_handler(backup_probe.unary)
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("backup.v1.Probe", {"Unary": unary}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield backup_probe, tool_state("backup", [f"127.0.0.1:{port}"], service="backup.v1.Probe")
    finally:
        await server.stop(None)


async def test_a_fallback_answers_when_the_primary_is_down(fleet: Fleet) -> None:
    """The fallback tool serves the same methods under its own service name."""
    async with backup_tool() as (backup_probe, backup):
        for probe in fleet.probes:
            probe.failing = True
        fleet.set_policy("fallback: backup\ncircuit_breaker: {enabled: false}", backup)
        call = fleet.unary(timeout=5)
        raw = await call
        assert wrappers_pb2.BytesValue.FromString(raw).value == b"backup:x"
        assert ("x-toolmesh-fallback", "backup") in tuple(await call.initial_metadata())
        assert backup_probe.state.calls == 1


async def test_a_fallback_whose_method_has_another_shape_is_not_called(fleet: Fleet) -> None:
    """The fallback tool changed after the policy was set: its `Unary` now streams. The
    call fails with the primary's status rather than sending it messages it cannot read."""
    async with backup_tool() as (backup_probe, backup):
        method = backup.tool.descriptors.file[1].service[0].method[0]
        assert method.name == "Unary"
        method.server_streaming = True
        for probe in fleet.probes:
            probe.failing = True
        fleet.set_policy("fallback: backup\ncircuit_breaker: {enabled: false}", backup)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await fleet.unary(timeout=5)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE
        assert backup_probe.state.calls == 0


async def test_the_concurrency_limit_refuses_beyond_the_queue(fleet: Fleet) -> None:
    fleet.set_policy("concurrency_limit: {max_in_flight: 1, max_queue: 0}")
    hung = fleet.channel.unary_unary(HANG)(pack(b""), timeout=10)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while fleet.tool_calls == 0:
        assert loop.time() < deadline
        await asyncio.sleep(0.01)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await fleet.unary(timeout=5)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_info(refused.value)
    assert info is not None and info.reason == "CONCURRENCY_LIMIT"
    hung.cancel()


async def test_a_policy_pushed_during_traffic_applies_to_the_next_call(fleet: Fleet) -> None:
    assert all(isinstance(r, bytes) for r in await outcomes(fleet, 20))
    fleet.set_policy("timeout: 100ms")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await fleet.channel.unary_unary(HANG)(pack(b""), timeout=10)
    assert raised.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


async def test_retries_carry_previous_attempts_and_honour_pushback(fleet: Fleet) -> None:
    fleet.set_policy(
        IDEMPOTENT_UNARY + "retry: {initial_backoff: 1ms, max_backoff: 2ms}\n"
        "load_balancing: round_robin\noutlier_detection: {enabled: false}",
        addresses=fleet.addresses[:1],
    )
    probe = fleet.probes[0]
    probe.fail_next, probe.pushback = 1, "300"
    started = time.monotonic()
    await fleet.unary(timeout=5)
    assert time.monotonic() - started >= 0.3  # waited as the tool asked, not the 2ms backoff
    seen = dict(probe.state.metadata[-1])
    assert seen.get("grpc-previous-rpc-attempts") == "1"
    probe.fail_next, probe.pushback = 1, "-1"  # "do not retry"
    calls = probe.state.calls
    with pytest.raises(grpc.aio.AioRpcError):
        await fleet.unary(timeout=5)
    assert probe.state.calls == calls + 1


async def test_an_attempt_timeout_moves_a_stuck_call_to_another_instance() -> None:
    slow, fast = Probe("slow", delay_s=5.0), Probe("fast")
    async with running_fleet([slow, fast]) as fleet:
        fleet.set_policy(
            IDEMPOTENT_UNARY + "attempt_timeout: 200ms\nload_balancing: round_robin\n"
            "retry: {retryable_codes: [UNAVAILABLE, DEADLINE_EXCEEDED], initial_backoff: 1ms}\n"
            "outlier_detection: {enabled: false}"
        )
        for _ in range(2):  # round robin: at least one call starts on the slow instance
            started = time.monotonic()
            raw = await fleet.unary(timeout=10)
            assert wrappers_pb2.BytesValue.FromString(raw).value == b"fast:x"
            assert time.monotonic() - started < 1.5
        assert slow.state.calls >= 1
        remaining = slow.state.time_remaining[-1]
        assert remaining is not None and remaining <= 0.2  # the tool saw the attempt's budget
        await asyncio.wait_for(slow.state.cancelled.wait(), 5)


async def test_peak_ewma_keeps_calls_off_a_slow_instance_once_measured() -> None:
    slow, fast = Probe("slow", delay_s=0.05), Probe("fast")
    async with running_fleet([slow, fast]) as fleet:
        fleet.set_policy("load_balancing: peak_ewma")
        for _ in range(4):  # warm-up: an endpoint never measured wins its next draw
            await fleet.unary(timeout=5)
        assert slow.state.calls >= 1 and fast.state.calls >= 1  # both measured
        slow_before = slow.state.calls
        for _ in range(60):
            raw = await fleet.unary(timeout=5)
            assert wrappers_pb2.BytesValue.FromString(raw).value in (b"fast:x", b"slow:x")
        # Least request would send about half of these sequential calls to the slow one.
        assert slow.state.calls - slow_before <= 2
        assert fast.state.calls >= 58
