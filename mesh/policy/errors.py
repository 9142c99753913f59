"""The errors the mesh itself produces for an agent, and their gRPC wire form.

The tree:

    MeshError                 any error made by the mesh rather than the tool
    ├── CircuitOpen           UNAVAILABLE         CIRCUIT_OPEN            + RetryInfo
    ├── RetryBudgetExhausted  the tool's own code RETRY_BUDGET_EXHAUSTED
    ├── NoHealthyEndpoint     UNAVAILABLE         NO_HEALTHY_ENDPOINT     (+ RetryInfo if known)
    ├── MeshDeadlineExceeded  DEADLINE_EXCEEDED   DEADLINE_EXCEEDED
    └── ConcurrencyLimited    RESOURCE_EXHAUSTED  CONCURRENCY_LIMIT       + RetryInfo

Each error carries the gRPC status `code`, an `ErrorInfo` `reason`, a `message` that says what
happened and what to do, the `tool`, the `method` (its `:path`, `/pkg.Service/Method`), the
`attempts` sent to the tool, and `retry_after_s` (seconds; None when waiting would not help).

`status_details(error)` is the one mapping to the wire: a serialized `google.rpc.Status` with
`ErrorInfo(reason, domain="toolmesh.dev", metadata={tool, method, attempts})` and, when
`retry_after_s` is set, `RetryInfo(retry_delay)`. `status_details_header(error)` is the same,
base64-encoded without padding, as the value of the `grpc-status-details-bin` trailer.
"""

from __future__ import annotations

import base64
from typing import Final

# googleapis-common-protos ships .pyi files but no py.typed marker.
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from mesh.config.policy import STATUS_CODES

ERROR_DOMAIN: Final = "toolmesh.dev"
STATUS_DETAILS_HEADER: Final = b"grpc-status-details-bin"

UNAVAILABLE: Final = STATUS_CODES["UNAVAILABLE"]
DEADLINE_EXCEEDED: Final = STATUS_CODES["DEADLINE_EXCEEDED"]
RESOURCE_EXHAUSTED: Final = STATUS_CODES["RESOURCE_EXHAUSTED"]

_CODE_NAMES = {code: name for name, code in STATUS_CODES.items()}

# A hint for agents refused by the concurrency limit: slots free up as calls finish.
DEFAULT_CONCURRENCY_RETRY_AFTER_S: Final = 0.1


def code_name(code: int) -> str:
    """`UNAVAILABLE` for 14; `code 42` for a number gRPC does not define."""
    return _CODE_NAMES.get(code, f"code {code}")


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.1f}s"
    return f"{max(seconds, 0.0) * 1000:.0f}ms"


def _attempts(count: int) -> str:
    return f"{count} attempt{'' if count == 1 else 's'}"


class MeshError(Exception):
    """An error the mesh produced for a call of `method` (its `:path`) of `tool`."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        *,
        tool: str,
        method: str,
        attempts: int = 0,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.tool = tool
        self.method = method
        self.attempts = attempts
        self.retry_after_s = retry_after_s


class CircuitOpen(MeshError):
    """The method's circuit breaker refused the call; `explanation` comes from it
    (`Admission.explanation`, e.g. "is open after 5 consecutive failures")."""

    def __init__(
        self, *, tool: str, method: str, explanation: str, retry_after_s: float, attempts: int = 0
    ) -> None:
        super().__init__(
            UNAVAILABLE,
            "CIRCUIT_OPEN",
            f"circuit for tool {tool!r} method {method} {explanation}; "
            f"retry after {_duration(retry_after_s)}",
            tool=tool,
            method=method,
            attempts=attempts,
            retry_after_s=retry_after_s,
        )


class RetryBudgetExhausted(MeshError):
    """An attempt failed with a retryable status, but the tool's retry budget is spent: the
    agent gets the tool's own status `code` and message, with this reason attached."""

    def __init__(
        self, *, tool: str, method: str, code: int, upstream_message: str, attempts: int
    ) -> None:
        said = f": {upstream_message}" if upstream_message else ""
        super().__init__(
            code,
            "RETRY_BUDGET_EXHAUSTED",
            f"tool {tool!r} method {method} failed with {code_name(code)}{said} "
            f"(after {_attempts(attempts)}); not retried: tool {tool!r} has used up its retry "
            f"budget (retries are capped at a share of its recent calls), so it is failing "
            f"for many callers",
            tool=tool,
            method=method,
            attempts=attempts,
        )


class NoHealthyEndpoint(MeshError):
    """No endpoint of the tool can take the call. `endpoints` is how many the tool has;
    `detail` replaces the default explanation."""

    def __init__(
        self,
        *,
        tool: str,
        method: str,
        endpoints: int,
        attempts: int = 0,
        detail: str = "",
        retry_after_s: float | None = None,
    ) -> None:
        if not detail:
            detail = (
                "it has no registered or live endpoint; register an instance or check its "
                "heartbeats"
                if endpoints == 0
                else f"all {endpoints} of its endpoints are ejected or unreachable"
            )
        wait = f"; retry after {_duration(retry_after_s)}" if retry_after_s is not None else ""
        super().__init__(
            UNAVAILABLE,
            "NO_HEALTHY_ENDPOINT",
            f"tool {tool!r} has no healthy endpoint for method {method}: {detail}{wait}",
            tool=tool,
            method=method,
            attempts=attempts,
            retry_after_s=retry_after_s,
        )


class MeshDeadlineExceeded(MeshError):
    """The call's time ran out in the mesh. `timeout_s` is the deadline that applied and
    `source` says whose it was (e.g. "the agent's deadline", "the tool policy's timeout",
    "the tool policy's attempt_timeout")."""

    def __init__(
        self, *, tool: str, method: str, timeout_s: float, source: str, attempts: int
    ) -> None:
        super().__init__(
            DEADLINE_EXCEEDED,
            "DEADLINE_EXCEEDED",
            f"call to tool {tool!r} method {method} ran out of time after {_attempts(attempts)}:"
            f" {source} of {_duration(timeout_s)} has passed",
            tool=tool,
            method=method,
            attempts=attempts,
        )


class ConcurrencyLimited(MeshError):
    """The tool's concurrency limit and its queue are full."""

    def __init__(
        self,
        *,
        tool: str,
        method: str,
        max_in_flight: int,
        max_queue: int,
        retry_after_s: float = DEFAULT_CONCURRENCY_RETRY_AFTER_S,
    ) -> None:
        super().__init__(
            RESOURCE_EXHAUSTED,
            "CONCURRENCY_LIMIT",
            f"tool {tool!r} is at its concurrency limit, refusing method {method}: "
            f"{max_in_flight} calls in flight and {max_queue} waiting; "
            f"retry after {_duration(retry_after_s)}",
            tool=tool,
            method=method,
            attempts=0,
            retry_after_s=retry_after_s,
        )


def status_details(error: MeshError) -> bytes:
    """The serialized `google.rpc.Status` of `error` (see the module docstring)."""
    status = status_pb2.Status(code=error.code, message=error.message)
    info = error_details_pb2.ErrorInfo(
        reason=error.reason,
        domain=ERROR_DOMAIN,
        metadata={"tool": error.tool, "method": error.method, "attempts": str(error.attempts)},
    )
    status.details.add().Pack(info)
    if error.retry_after_s is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromNanoseconds(round(max(error.retry_after_s, 0.0) * 1e9))
        status.details.add().Pack(retry)
    serialized: bytes = status.SerializeToString()
    return serialized


def status_details_header(error: MeshError) -> bytes:
    """`status_details(error)` as a `grpc-status-details-bin` value: base64, no padding
    (gRPC's `-bin` rule: receivers accept both, senders should omit the padding)."""
    return base64.b64encode(status_details(error)).rstrip(b"=")
