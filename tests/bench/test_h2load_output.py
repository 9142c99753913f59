"""Reading h2load's report and per-request log, and building its command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.h2load import H2loadOutputError, Load, command, parse_log, parse_summary

# Recorded from h2load (nghttp2/1.52.0) against the echo tool.
REPORT = "\n".join(
    [
        "starting benchmark...",
        "spawning thread #0: 4 total client(s). 2000 total requests",
        "Application protocol: h2c",
        "progress: 100% done",
        "",
        "finished in 617.52ms, 3238.77 req/s, 1.03MB/s",
        "requests: 2000 total, 2000 started, 2000 done, 1998 succeeded, 2 failed, 1 errored,"
        " 0 timeout",
        "status codes: 1998 2xx, 0 3xx, 0 4xx, 0 5xx",
        "traffic: 653.13KB (668810) total, 6.15KB (6300) headers (space savings 96.11%),"
        " 541.02KB (554000) data",
        "                     min         max         mean         sd        +/- sd",
        "time for request:     1.70ms     44.70ms     19.45ms      5.85ms    85.15%",
    ]
)


def test_summary_fields_are_read() -> None:
    summary = parse_summary(REPORT)
    assert summary.duration_s == pytest.approx(0.61752)
    assert summary.requests_per_s == pytest.approx(3238.77)
    assert (summary.total, summary.started, summary.done) == (2000, 2000, 2000)
    assert (summary.succeeded, summary.failed, summary.errored, summary.timeout) == (1998, 2, 1, 0)
    assert (summary.status_2xx, summary.status_5xx) == (1998, 0)
    assert (summary.traffic_bytes, summary.header_bytes, summary.data_bytes) == (
        668810,
        6300,
        554000,
    )


@pytest.mark.parametrize(("text", "seconds"), [("6.78s", 6.78), ("950us", 0.00095)])
def test_durations_in_any_unit(text: str, seconds: float) -> None:
    summary = parse_summary(REPORT.replace("617.52ms", text))
    assert summary.duration_s == pytest.approx(seconds)


def test_a_report_without_traffic_line_names_it() -> None:
    broken = "\n".join(line for line in REPORT.splitlines() if not line.startswith("traffic:"))
    with pytest.raises(H2loadOutputError, match="'traffic:'"):
        parse_summary(broken)


def test_log_rows_are_read_and_extra_columns_ignored() -> None:
    entries = parse_log("1700000000000000\t200\t5114\n1700000000000100\t-1\t77\textra\n\n")
    assert [(e.status, e.duration_us) for e in entries] == [(200, 5114), (-1, 77)]
    assert entries[1].start_us == 1700000000000100


def test_a_bad_log_row_names_its_line() -> None:
    with pytest.raises(H2loadOutputError, match=r"run.log:2"):
        parse_log("1\t200\t5\n1\t200\n", "run.log")


def test_command_is_closed_loop_or_fixed_rate() -> None:
    closed = command("h2load", "http://127.0.0.1:1/a.B/C", Path("b"), Load(4, 16, 100), Path("l"))
    assert "--requests=100" in closed and "--max-concurrent-streams=16" in closed
    assert not any(arg.startswith("--rps") for arg in closed)
    assert "--header=te: trailers" in closed and closed[-1] == "http://127.0.0.1:1/a.B/C"
    fixed = command("h2load", "u", Path("b"), Load(5, 8, 3000, rps_per_client=100), Path("l"))
    assert "--rps=100" in fixed and "--clients=5" in fixed


def test_guard_covers_the_planned_duration() -> None:
    fixed = Load(5, 8, 3000, rps_per_client=100)
    assert fixed.offered_rps == 500
    assert fixed.guard_s() > 3000 / 500
    assert Load(4, 16, 20000).offered_rps is None
