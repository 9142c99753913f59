"""The relay records what happens to calls in the metrics the dashboards read."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import grpc
import pytest
from prometheus_client import generate_latest

from mesh.telemetry.metrics import SidecarMetrics, metrics_registry
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.relay.relay import Relay
from tests.relay.probe import CHANNEL_OPTIONS, UNARY, Probe
from tests.relay.test_resilience import IDEMPOTENT_UNARY, pack, start_probes, tool_state


def sample(text: str, name: str, **labels: str) -> float:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{key}="{wanted}"' in head for key, wanted in labels.items()):
            return float(value)
    return 0.0


@pytest.fixture
def json_log() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger whose lines land, bare, in a string buffer."""
    stream = io.StringIO()
    logger = logging.getLogger("toolmesh.invocations.test")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield logger, stream
    finally:
        logger.removeHandler(handler)


async def test_calls_attempts_retries_and_breaker_are_counted() -> None:
    probes = [Probe("a", seed=1)]
    servers, addresses = await start_probes(probes)
    registry = metrics_registry()
    holder = CatalogHolder()
    relay = Relay(holder, metrics=SidecarMetrics(registry))
    host, port = await relay.start("127.0.0.1", 0)
    policy = IDEMPOTENT_UNARY + (
        "retry: {initial_backoff: 1ms, max_backoff: 2ms}\n"
        "circuit_breaker: {consecutive_failures: 2, open_for: 60s}\n"
        "outlier_detection: {enabled: false}"
    )
    holder.replace(Catalog.build([tool_state("probe", addresses, policy)], version=1, store_id="t"))
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=CHANNEL_OPTIONS)
    try:
        unary = channel.unary_unary(UNARY)
        for _ in range(3):
            await unary(pack(b"x"), timeout=5)
        probes[0].fail_next = 1  # one retry, then success
        await unary(pack(b"x"), timeout=5)
        probes[0].failing = True
        for _ in range(2):  # two failed calls (3 attempts each) trip the breaker
            with pytest.raises(grpc.aio.AioRpcError):
                await unary(pack(b"x"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await unary(pack(b"x"), timeout=5)  # refused: the circuit is open
        text = generate_latest(registry).decode()
        method = "probe.v1.Probe/Unary"
        assert (
            sample(
                text, "toolmesh_call_duration_seconds_count", tool="probe", method=method, code="OK"
            )
            == 4
        )
        assert (
            sample(
                text,
                "toolmesh_call_duration_seconds_count",
                tool="probe",
                method=method,
                code="UNAVAILABLE",
            )
            == 3
        )
        assert (
            sample(
                text, "toolmesh_retries_total", tool="probe", method=method, reason="UNAVAILABLE"
            )
            == 5
        )
        assert (
            sample(text, "toolmesh_attempts_total", tool="probe", method=method, kind="first") == 6
        )
        assert (
            sample(
                text,
                "toolmesh_fast_failures_total",
                tool="probe",
                method=method,
                reason="CIRCUIT_OPEN",
            )
            == 1
        )
        assert sample(text, "toolmesh_circuit_breaker_state", tool="probe", method=method) == 2
        assert sample(text, "toolmesh_calls_in_flight", tool="probe") == 0
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        for server in servers:
            await server.stop(None)


async def test_the_invocation_log_writes_one_json_line_per_call(
    json_log: tuple[logging.Logger, io.StringIO],
) -> None:
    from mesh.telemetry.logs import InvocationLog

    logger, stream = json_log
    probes = [Probe("a", seed=1)]
    servers, addresses = await start_probes(probes)
    holder = CatalogHolder()
    relay = Relay(holder, invocations=InvocationLog(logger))
    host, port = await relay.start("127.0.0.1", 0)
    holder.replace(Catalog.build([tool_state("probe", addresses)], version=1, store_id="t"))
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=CHANNEL_OPTIONS)
    try:
        await channel.unary_unary(UNARY)(pack(b"x"), timeout=5)
        probes[0].failing = True
        with pytest.raises(grpc.aio.AioRpcError):
            await channel.unary_unary(UNARY)(pack(b"x"), timeout=5)
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        for server in servers:
            await server.stop(None)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["tool"], line["status"], line["attempts"]) for line in lines] == [
        ("probe", "OK", 1),
        ("probe", "UNAVAILABLE", 1),
    ]
    assert lines[0]["method"] == "probe.v1.Probe/Unary"
    assert lines[0]["endpoint"] == addresses[0]
    assert lines[1]["message"] == "a is failing"


@pytest.mark.parametrize("redact", [frozenset(), frozenset({"payload"})])
async def test_payload_logging_decodes_redacts_and_caps(
    redact: frozenset[str], json_log: tuple[logging.Logger, io.StringIO]
) -> None:
    import base64

    from examples.tools import echo
    from examples.tools.gen.echo.v1 import echo_pb2, echo_pb2_grpc
    from mesh.api.v1 import registry_pb2
    from mesh.telemetry.logs import InvocationLog, PayloadLogging
    from tests.telemetry.test_tracing_relay import echo_files

    logger, stream = json_log
    server, address = await echo.start(instance="e")
    tool = registry_pb2.Tool(name="echo", descriptors=echo_files())
    tool.endpoints.add(address=address)
    holder = CatalogHolder(
        Catalog.build([registry_pb2.ToolState(tool=tool)], version=1, store_id="t")
    )
    log = InvocationLog(logger, payloads=PayloadLogging(max_bytes=256, redact=redact))
    relay = Relay(holder, invocations=log)
    host, port = await relay.start("127.0.0.1", 0)
    channel = grpc.aio.insecure_channel(f"{host}:{port}", options=CHANNEL_OPTIONS)
    try:
        stub = echo_pb2_grpc.EchoStub(channel)  # type: ignore[no-untyped-call]
        await stub.Echo(echo_pb2.EchoRequest(payload=b"hi"), timeout=5)
        await stub.Echo(echo_pb2.EchoRequest(payload=b"y" * 500), timeout=5)
    finally:
        await channel.close()
        await relay.shutdown(0.5)
        await server.stop(None)
    small, large = (json.loads(line) for line in stream.getvalue().splitlines())
    if redact:
        assert small["request"] == {"payload": "[REDACTED]"}
        assert small["response"]["payload"] == "[REDACTED]"
        assert small["response"]["instance"] == "e"
    else:
        assert small["request"] == {"payload": base64.b64encode(b"hi").decode()}
        assert small["response"]["payload"] == base64.b64encode(b"hi").decode()
        assert large["request_truncated"] is True  # 500 bytes of base64 JSON, cut at 256
        assert len(large["request"].encode()) <= 256
