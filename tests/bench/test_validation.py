"""A run counts only when every request was a successful call with the expected bytes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from bench.h2load import LogEntry, Summary
from bench.validation import problems, row_status, successful_calls

N = 100
RESPONSE = 277


def _summary(**changes: int) -> Summary:
    good = Summary(
        duration_s=0.1,
        requests_per_s=1000.0,
        total=N,
        started=N,
        done=N,
        succeeded=N,
        failed=0,
        errored=0,
        timeout=0,
        status_2xx=N,
        status_3xx=0,
        status_4xx=0,
        status_5xx=0,
        traffic_bytes=40_000,
        header_bytes=300,
        data_bytes=N * RESPONSE,
    )
    return replace(good, **changes)


def _log(count: int = N, status: int = 200) -> list[LogEntry]:
    return [LogEntry(1, status, 500) for _ in range(count)]


def test_a_complete_run_counts() -> None:
    assert problems(_summary(), _log(), requests=N, response_bytes=RESPONSE) == []


def test_grpc_errors_hidden_behind_http_200_are_caught_by_the_byte_count() -> None:
    # Trailers-only errors: h2load counts them as succeeded, but they carry no message.
    found = problems(
        _summary(data_bytes=(N - 3) * RESPONSE), _log(), requests=N, response_bytes=RESPONSE
    )
    assert len(found) == 1 and "response data bytes" in found[0]


def test_responses_of_another_size_are_caught() -> None:
    found = problems(_summary(data_bytes=N * 300), _log(), requests=N, response_bytes=RESPONSE)
    assert found


def test_failed_requests_and_short_logs_are_reported() -> None:
    found = problems(
        _summary(succeeded=N - 1, errored=1, status_2xx=N - 1, data_bytes=(N - 1) * RESPONSE),
        _log(N - 1),
        requests=N,
        response_bytes=RESPONSE,
    )
    text = " | ".join(found)
    assert "99 of 100 requests succeeded" in text
    assert "1 requests errored" in text
    assert "log has 99 entries" in text


def test_failed_streams_in_the_log_are_reported() -> None:
    found = problems(_summary(), _log(status=-1), requests=N, response_bytes=RESPONSE)
    assert found == [f"{N} logged requests did not end with HTTP 200"]


def test_a_run_without_report_does_not_count() -> None:
    assert problems(None, _log(), requests=N, response_bytes=RESPONSE) == [
        "h2load printed no report"
    ]


# --- runs in which calls may fail: successes counted from the DATA bytes -------------------


def test_successes_are_the_whole_answers_received() -> None:
    count, found = successful_calls(
        _summary(data_bytes=77 * RESPONSE), _log(), requests=N, response_bytes=RESPONSE
    )
    assert (count, found) == (77, [])


def test_bytes_that_are_not_whole_answers_void_the_run() -> None:
    count, found = successful_calls(
        _summary(data_bytes=77 * RESPONSE + 3), _log(), requests=N, response_bytes=RESPONSE
    )
    assert count is None
    assert found == [
        f"received {77 * RESPONSE + 3} response data bytes, not a whole number of"
        f" {RESPONSE}-byte answers: some calls returned other messages"
    ]


def test_more_answers_than_requests_void_the_run() -> None:
    count, found = successful_calls(
        _summary(data_bytes=(N + 1) * RESPONSE), _log(), requests=N, response_bytes=RESPONSE
    )
    assert count is None and "101 answers" in found[0]


def test_transport_failures_void_a_run_with_failures_expected_too() -> None:
    count, found = successful_calls(
        _summary(errored=2), _log(), requests=N, response_bytes=RESPONSE
    )
    assert count is None and found == ["2 requests errored"]
    assert successful_calls(None, _log(), requests=N, response_bytes=RESPONSE) == (
        None,
        ["h2load printed no report"],
    )


@dataclass(frozen=True)
class _Run:
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems


@pytest.mark.parametrize(
    ("runs", "unavailable", "status"),
    [
        ([_Run(), _Run()], None, ""),
        ([], "it crashed", "UNAVAILABLE: it crashed"),
        ([_Run()], "it crashed", "UNAVAILABLE: it crashed"),  # stale rounds do not count
        ([], None, "UNAVAILABLE: not run"),
        (
            [_Run(), _Run(("3 requests errored", "short log")), _Run(("other",))],
            None,
            "INVALID (2/3 rounds): 3 requests errored; short log",
        ),
    ],
)
def test_a_row_counts_only_when_every_round_behind_it_does(
    runs: list[_Run], unavailable: str | None, status: str
) -> None:
    assert row_status(runs, unavailable=unavailable) == status
