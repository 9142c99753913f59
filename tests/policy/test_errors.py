"""Mesh errors: codes, reasons, messages, and the google.rpc.Status they produce."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from mesh.config.policy import STATUS_CODES
from mesh.policy.errors import (
    CircuitOpen,
    ConcurrencyLimited,
    MeshDeadlineExceeded,
    MeshError,
    NoHealthyEndpoint,
    RetryBudgetExhausted,
    status_details,
    status_details_header,
)

METHOD = "/echo.v1.Echo/Echo"


def decode(error: MeshError) -> tuple[Any, list[Any]]:
    header = status_details_header(error)
    assert b"=" not in header  # unpadded, per gRPC's -bin rule
    raw = base64.b64decode(header + b"=" * (-len(header) % 4))
    assert raw == status_details(error)
    status = status_pb2.Status.FromString(raw)
    details: list[Any] = []
    for any_detail in status.details:
        for kind in (error_details_pb2.ErrorInfo, error_details_pb2.RetryInfo):
            if any_detail.Is(kind.DESCRIPTOR):
                detail = kind()
                any_detail.Unpack(detail)
                details.append(detail)
    assert len(details) == len(status.details)
    return status, details


def test_circuit_open() -> None:
    error = CircuitOpen(
        tool="echo",
        method=METHOD,
        explanation="is open after 5 consecutive failures",
        retry_after_s=8.2,
    )
    assert isinstance(error, MeshError)
    assert str(error) == (
        "circuit for tool 'echo' method /echo.v1.Echo/Echo is open after 5 consecutive "
        "failures; retry after 8.2s"
    )
    status, (info, retry) = decode(error)
    assert status.code == STATUS_CODES["UNAVAILABLE"]
    assert status.message == str(error)
    assert info.reason == "CIRCUIT_OPEN"
    assert info.domain == "toolmesh.dev"
    assert dict(info.metadata) == {"tool": "echo", "method": METHOD, "attempts": "0"}
    assert retry.retry_delay.seconds == 8
    assert retry.retry_delay.nanos == 200_000_000


def test_retry_budget_exhausted_keeps_the_tools_code() -> None:
    error = RetryBudgetExhausted(
        tool="echo",
        method=METHOD,
        code=STATUS_CODES["UNAVAILABLE"],
        upstream_message="backend warming up",
        attempts=1,
    )
    assert error.code == STATUS_CODES["UNAVAILABLE"]
    assert "failed with UNAVAILABLE: backend warming up (after 1 attempt)" in error.message
    assert "retry budget" in error.message
    status, details = decode(error)
    assert status.code == STATUS_CODES["UNAVAILABLE"]
    (info,) = details  # waiting is not the advice here: no RetryInfo
    assert info.reason == "RETRY_BUDGET_EXHAUSTED"
    assert info.metadata["attempts"] == "1"


def test_no_healthy_endpoint() -> None:
    error = NoHealthyEndpoint(tool="echo", method=METHOD, endpoints=3, attempts=2)
    assert error.message == (
        "tool 'echo' has no healthy endpoint for method /echo.v1.Echo/Echo: all 3 of its "
        "endpoints are ejected or unreachable"
    )
    status, (info,) = decode(error)
    assert status.code == STATUS_CODES["UNAVAILABLE"]
    assert info.reason == "NO_HEALTHY_ENDPOINT"
    assert info.metadata["attempts"] == "2"
    none = NoHealthyEndpoint(tool="echo", method=METHOD, endpoints=0, retry_after_s=0.25)
    assert "no registered or live endpoint" in none.message
    assert none.message.endswith("; retry after 250ms")
    _, (_, retry) = decode(none)
    assert retry.retry_delay.ToMilliseconds() == 250


def test_mesh_deadline_exceeded() -> None:
    error = MeshDeadlineExceeded(
        tool="echo", method=METHOD, timeout_s=5, source="the tool policy's timeout", attempts=2
    )
    assert error.message == (
        "call to tool 'echo' method /echo.v1.Echo/Echo ran out of time after 2 attempts: "
        "the tool policy's timeout of 5.0s has passed"
    )
    status, (info,) = decode(error)
    assert status.code == STATUS_CODES["DEADLINE_EXCEEDED"]
    assert info.reason == "DEADLINE_EXCEEDED"


def test_concurrency_limited() -> None:
    error = ConcurrencyLimited(
        tool="echo", method=METHOD, max_in_flight=8, max_queue=4, retry_after_s=0.05
    )
    assert error.message == (
        "tool 'echo' is at its concurrency limit, refusing method /echo.v1.Echo/Echo: "
        "8 calls in flight and 4 waiting; retry after 50ms"
    )
    status, (info, retry) = decode(error)
    assert status.code == STATUS_CODES["RESOURCE_EXHAUSTED"]
    assert info.reason == "CONCURRENCY_LIMIT"
    assert retry.retry_delay.ToNanoseconds() == 50_000_000


@pytest.mark.parametrize(
    "error",
    [
        CircuitOpen(tool="t", method=METHOD, explanation="is open", retry_after_s=1),
        RetryBudgetExhausted(tool="t", method=METHOD, code=13, upstream_message="", attempts=1),
        NoHealthyEndpoint(tool="t", method=METHOD, endpoints=1),
        MeshDeadlineExceeded(tool="t", method=METHOD, timeout_s=1, source="x", attempts=1),
        ConcurrencyLimited(tool="t", method=METHOD, max_in_flight=1, max_queue=0),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_error_round_trips(error: MeshError) -> None:
    status, details = decode(error)
    assert (status.code, status.message) == (error.code, error.message)
    info = details[0]
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.reason == error.reason
    assert (len(details) == 2) == (error.retry_after_s is not None)
