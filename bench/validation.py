"""Deciding whether a benchmark run counts: every request must have been a successful call.

A gRPC failure is an HTTP 200 response too (the status travels in the trailers, and a
trailers-only error carries no body), so HTTP-level success proves little. A run counts
only when h2load completed every request AND received exactly the expected response
message bytes for each of them. A run that fails any check is reported as INVALID with
these problems, never as a number.

Where failed calls are the point of the measurement (a flaky tool instance), the same
transport checks apply, and the calls that succeeded are counted from the DATA bytes: every
successful call returns exactly one answer of known size, every failed one none.

A table row pools rounds, and counts only when every one of them does (`row_status`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bench.h2load import LogEntry, Summary


class CheckedRun(Protocol):
    """A run checked by this module: valid when `problems` is empty."""

    @property
    def valid(self) -> bool: ...

    @property
    def problems(self) -> Sequence[str]: ...


def problems(
    summary: Summary | None,
    log: Sequence[LogEntry],
    *,
    requests: int,
    response_bytes: int,
) -> list[str]:
    """Every reason the run does not count; empty when it does.

    `requests` is the run's `-n`; `response_bytes` is the size of one expected response as
    DATA payload (the 5-byte gRPC prefix plus the serialized message).
    """
    found = transport_problems(summary, log, requests=requests)
    if summary is not None:
        expected_data = requests * response_bytes
        if summary.data_bytes != expected_data:
            found.append(
                f"received {summary.data_bytes} response data bytes, expected {expected_data}"
                f" ({requests} x {response_bytes}): some calls returned no or other messages"
            )
    return found


def transport_problems(
    summary: Summary | None, log: Sequence[LogEntry], *, requests: int
) -> list[str]:
    """Every reason the run broke below gRPC: a request that got no complete HTTP 200
    response, a missing report, a log that does not hold every request."""
    found: list[str] = []
    if summary is None:
        found.append("h2load printed no report")
    else:
        if summary.succeeded != requests:
            found.append(f"{summary.succeeded} of {requests} requests succeeded")
        failures = {
            "failed": summary.failed,
            "errored": summary.errored,
            "timed out": summary.timeout,
        }
        for what, count in failures.items():
            if count:
                found.append(f"{count} requests {what}")
        if summary.status_2xx != requests:
            found.append(f"{summary.status_2xx} of {requests} responses had HTTP status 2xx")
    if len(log) != requests:
        found.append(f"the request log has {len(log)} entries, expected {requests}")
    not_ok = sum(1 for entry in log if entry.status != 200)
    if not_ok:
        found.append(f"{not_ok} logged requests did not end with HTTP 200")
    return found


def successful_calls(
    summary: Summary | None,
    log: Sequence[LogEntry],
    *,
    requests: int,
    response_bytes: int,
) -> tuple[int | None, list[str]]:
    """(calls that returned their answer, reasons the run does not count) for a run in which
    calls may fail with a gRPC status. The count is None when the run does not count.

    Each successful call returns exactly `response_bytes` of DATA, each failed call none, so
    the DATA bytes must be a whole number of answers, at most one per request.
    """
    found = transport_problems(summary, log, requests=requests)
    if summary is None:
        return None, found
    answers, rest = divmod(summary.data_bytes, response_bytes)
    if rest:
        found.append(
            f"received {summary.data_bytes} response data bytes, not a whole number of"
            f" {response_bytes}-byte answers: some calls returned other messages"
        )
    elif answers > requests:
        found.append(
            f"received {answers} answers of {response_bytes} bytes for {requests} requests"
        )
    return (None if found else answers), found


def row_status(runs: Sequence[CheckedRun], *, unavailable: str | None) -> str:
    """The status of a table row pooling `runs` (its rounds): empty when there are some and
    every one counts. Otherwise `UNAVAILABLE: <unavailable>` when the target did not start
    (`unavailable`, the reason, is not None), `UNAVAILABLE: not run` when no round ran, or
    `INVALID (k/n rounds): ...` with the problems of the first invalid round: a figure is only
    shown when every round behind it counts."""
    if unavailable is not None:
        return f"UNAVAILABLE: {unavailable}"
    if not runs:
        return "UNAVAILABLE: not run"
    invalid = [run for run in runs if not run.valid]
    if invalid:
        return f"INVALID ({len(invalid)}/{len(runs)} rounds): {'; '.join(invalid[0].problems)}"
    return ""
