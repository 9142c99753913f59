"""Driving h2load (nghttp2's HTTP/2 load generator) and reading what it reports.

`command` builds one bounded run, `run` executes it under a wall-clock guard, and the two
parsers turn its summary and its per-request log (`--log-file`) into plain values. The
parsers are pure so they can be tested on recorded output.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")


class H2loadOutputError(ValueError):
    """h2load printed something the parsers do not understand; the message quotes it."""


@dataclass(frozen=True, slots=True)
class Load:
    """The shape of one h2load run.

    `rps_per_client` None means a closed loop: each client keeps `streams_per_client`
    requests in flight. Otherwise each client starts `rps_per_client` requests per second
    (h2load's `--rps` is per client), so the offered rate is `clients * rps_per_client`.
    `requests` is the total across clients (`-n`); every run is bounded by it.
    """

    clients: int
    streams_per_client: int
    requests: int
    rps_per_client: int | None = None

    @property
    def offered_rps(self) -> int | None:
        """Requests per second offered in fixed-rate mode; None for a closed loop."""
        if self.rps_per_client is None:
            return None
        return self.clients * self.rps_per_client

    def guard_s(self, slowest_closed_loop_rps: float = 250.0) -> float:
        """Wall-clock seconds after which a run is abandoned as hung.

        Fixed rate: twice the planned duration plus 10 s. Closed loop: the time the run
        would take at `slowest_closed_loop_rps`, a rate no working target falls below.
        """
        offered = self.offered_rps
        if offered is not None:
            return 2.0 * self.requests / offered + 10.0
        return self.requests / slowest_closed_loop_rps + 10.0


@dataclass(frozen=True, slots=True)
class Summary:
    """The figures of h2load's final report (counts are requests, sizes are bytes)."""

    duration_s: float
    requests_per_s: float
    total: int
    started: int
    done: int
    succeeded: int
    failed: int
    errored: int
    timeout: int
    status_2xx: int
    status_3xx: int
    status_4xx: int
    status_5xx: int
    traffic_bytes: int  # everything received, frame headers included
    header_bytes: int  # HEADERS payloads received (after HPACK)
    data_bytes: int  # DATA payloads received: the gRPC messages, 5-byte prefixes included


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One request of `--log-file`: when it started, its HTTP status, how long it took."""

    start_us: int  # microseconds since the epoch
    status: int  # HTTP status; -1 for a stream that failed
    duration_us: int  # from the request's start to the end of its response


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one run produced. `problem` is set when the run itself broke (hung, crashed,
    printed no report or an unreadable log); `summary` is then None and `log` empty."""

    summary: Summary | None
    log: tuple[LogEntry, ...]
    problem: str | None
    wall_s: float


def command(
    h2load: str,
    url: str,
    body: Path,
    load: Load,
    log_file: Path,
    headers: tuple[str, ...] = GRPC_HEADERS,
) -> list[str]:
    """The h2load command line for one run: POST `body` to `url` as gRPC, `load` shaped."""
    argv = [
        h2load,
        f"--requests={load.requests}",
        f"--clients={load.clients}",
        f"--max-concurrent-streams={load.streams_per_client}",
        f"--data={body}",
        f"--log-file={log_file}",
    ]
    if load.rps_per_client is not None:
        argv.append(f"--rps={load.rps_per_client}")
    for header in headers:
        argv.append(f"--header={header}")
    argv.append(url)
    return argv


def run(argv: list[str], log_file: Path, guard_s: float) -> Outcome:
    """Runs h2load; kills it when it outlives `guard_s` seconds (the run is then a problem)."""
    log_file.unlink(missing_ok=True)  # h2load appends to an existing log
    started = time.monotonic()
    try:
        finished = subprocess.run(
            argv, capture_output=True, text=True, timeout=guard_s, check=False
        )
    except subprocess.TimeoutExpired:
        # subprocess.run has killed h2load and reaped it before raising; the run is void.
        return Outcome(None, (), f"h2load did not finish within {guard_s:.0f}s", guard_s)
    wall_s = time.monotonic() - started
    if finished.returncode != 0:
        detail = (finished.stderr or finished.stdout).strip().splitlines()[-3:]
        problem = f"h2load exited with {finished.returncode}: {' / '.join(detail)}"
        return Outcome(None, (), problem, wall_s)
    try:
        summary = parse_summary(finished.stdout)
        log = tuple(parse_log(_read_text(log_file), str(log_file)))
    except H2loadOutputError as error:
        return Outcome(None, (), str(error), wall_s)
    return Outcome(summary, log, None, wall_s)


def _read_text(log_file: Path) -> str:
    try:
        return log_file.read_text(encoding="ascii")
    except FileNotFoundError:
        raise H2loadOutputError(f"h2load wrote no request log at {log_file}") from None


_FINISHED = re.compile(
    r"^finished in (?P<value>[\d.]+)(?P<unit>us|ms|s), (?P<rps>[\d.]+) req/s", re.M
)
_REQUESTS = re.compile(
    r"^requests: (?P<total>\d+) total, (?P<started>\d+) started, (?P<done>\d+) done, "
    r"(?P<succeeded>\d+) succeeded, (?P<failed>\d+) failed, (?P<errored>\d+) errored, "
    r"(?P<timeout>\d+) timeout",
    re.M,
)
_STATUS = re.compile(
    r"^status codes: (?P<s2>\d+) 2xx, (?P<s3>\d+) 3xx, (?P<s4>\d+) 4xx, (?P<s5>\d+) 5xx", re.M
)
_TRAFFIC = re.compile(
    r"^traffic: \S+ \((?P<total>\d+)\) total, \S+ \((?P<headers>\d+)\) headers[^,]*, "
    r"\S+ \((?P<data>\d+)\) data",
    re.M,
)
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_summary(text: str) -> Summary:
    """Reads h2load's final report; raises H2loadOutputError naming the missing line."""

    def find(pattern: re.Pattern[str], what: str) -> re.Match[str]:
        match = pattern.search(text)
        if match is None:
            tail = " / ".join(text.strip().splitlines()[-3:]) or "no output"
            raise H2loadOutputError(f"h2load output has no {what} line (ends with: {tail})")
        return match

    finished = find(_FINISHED, "'finished in'")
    requests = find(_REQUESTS, "'requests:'")
    status = find(_STATUS, "'status codes:'")
    traffic = find(_TRAFFIC, "'traffic:'")
    return Summary(
        duration_s=float(finished["value"]) * _UNIT_SECONDS[finished["unit"]],
        requests_per_s=float(finished["rps"]),
        total=int(requests["total"]),
        started=int(requests["started"]),
        done=int(requests["done"]),
        succeeded=int(requests["succeeded"]),
        failed=int(requests["failed"]),
        errored=int(requests["errored"]),
        timeout=int(requests["timeout"]),
        status_2xx=int(status["s2"]),
        status_3xx=int(status["s3"]),
        status_4xx=int(status["s4"]),
        status_5xx=int(status["s5"]),
        traffic_bytes=int(traffic["total"]),
        header_bytes=int(traffic["headers"]),
        data_bytes=int(traffic["data"]),
    )


def parse_log(text: str, source: str = "h2load log") -> list[LogEntry]:
    """Reads `--log-file` rows (tab-separated start µs, status, duration µs; h2load may add
    columns later, which are ignored). Raises H2loadOutputError naming the bad line."""
    entries: list[LogEntry] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            entries.append(LogEntry(int(fields[0]), int(fields[1]), int(fields[2])))
        except (IndexError, ValueError):
            raise H2loadOutputError(
                f"{source}:{number}: expected 'START_US<TAB>STATUS<TAB>DURATION_US', got {line!r}"
            ) from None
    return entries
