"""Running the plan: interleaved rounds of h2load against every target, each validated.

Within a scenario the targets take turns (direct, sidecar, nginx, direct, ...), so a slow
drift of the machine (another process, thermal limits) touches every target alike and
ratios against direct compare runs made side by side.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import h2load, validation
from bench.echo_calls import ECHO_METHOD, request_body, response_bytes
from bench.h2load import Load
from bench.plan import Plan, Scenario
from bench.procfs import IoCalls, ProcError, cpu_seconds, rss_bytes, syscalls


@dataclass(frozen=True, slots=True)
class Target:
    """Where load goes. `proxy_pid` is the forwarding process (None when direct);
    `address` is None when the target could not be started (`unavailable` says why)."""

    name: str
    address: str | None
    proxy_pid: int | None = None
    unavailable: str = ""
    # False when the proxy reads its sockets with recv(), which /proc/PID/io does not count.
    reads_counted: bool = True
    # The total timeout (seconds) the proxy gives each call, which the tool sees as its
    # deadline and reports in its answer; None when the tool sees no deadline.
    tool_timeout_s: float | None = None

    @property
    def slug(self) -> str:
        """The name as a file name part: `sidecar (no policy)` -> `sidecar-no-policy`."""
        return file_slug(self.name)


def file_slug(name: str) -> str:
    """`name` with every run of characters other than letters, digits, `.`, `_` made one `-`."""
    return re.sub(r"[^A-Za-z0-9._]+", "-", name).strip("-") or "unnamed"


@dataclass(frozen=True, slots=True)
class RoundResult:
    """One h2load run against one target. Figures are meaningful only when `valid`."""

    target: str
    scenario: Scenario
    index: int  # 0-based round number
    problems: tuple[str, ...]  # why the run does not count; empty when it does
    requests: int
    requests_per_s: float
    durations_us: tuple[int, ...]  # per request, from h2load's log
    proxy_cpu_s: float | None  # CPU seconds the forwarding process used during the run
    tool_cpu_s: float | None  # CPU seconds the echo tool used during the run
    proxy_rss_bytes: int | None  # the forwarding process's RSS right after the run
    proxy_calls: IoCalls | None = None  # read/write system calls of the forwarding process

    @property
    def valid(self) -> bool:
        return not self.problems


Progress = Callable[[str], None]


class Runner:
    """Runs h2load rounds against targets in front of one echo tool (`tool_pid`)."""

    def __init__(
        self, h2load_binary: str, work_dir: Path, tool_pid: int, progress: Progress
    ) -> None:
        self.h2load_binary = h2load_binary
        self.work_dir = work_dir
        self.tool_pid = tool_pid
        self.progress = progress
        self._bodies: dict[int, Path] = {}
        self._runs = 0

    def body(self, payload_bytes: int) -> Path:
        """The request body file for `payload_bytes` (written once)."""
        path = self._bodies.get(payload_bytes)
        if path is None:
            path = self.work_dir / f"echo-request-{payload_bytes}.bin"
            path.write_bytes(request_body(payload_bytes))
            self._bodies[payload_bytes] = path
        return path

    def run_plan(self, plan: Plan, targets: Sequence[Target]) -> list[RoundResult]:
        """Warm-up, then every scenario's rounds with the available targets interleaved."""
        live = [target for target in targets if target.address is not None]
        for payload_bytes in sorted({scenario.payload_bytes for scenario in plan.scenarios}):
            for target in live:
                warmup = Scenario(payload_bytes, plan.warmup)
                result = self.run_round(target, warmup, -1)
                status = "ok" if result.valid else "INVALID: " + "; ".join(result.problems)
                self.progress(f"warm-up {target.name} {warmup.payload_label}: {status}")
        results: list[RoundResult] = []
        for scenario in plan.scenarios:
            for index in range(plan.rounds):
                for target in live:
                    result = self.run_round(target, scenario, index)
                    results.append(result)
                    self.progress(_describe(result, plan.rounds))
        return results

    def run_round(self, target: Target, scenario: Scenario, index: int) -> RoundResult:
        """One bounded, validated h2load run of `scenario` against `target`."""
        assert target.address is not None
        load: Load = scenario.load
        self._runs += 1
        log_file = self.work_dir / f"h2load-{self._runs:03d}-{target.slug}.log"
        argv = h2load.command(
            self.h2load_binary,
            f"http://{target.address}{ECHO_METHOD}",
            self.body(scenario.payload_bytes),
            load,
            log_file,
        )
        problems: list[str] = []
        before = self._cpu(target, problems)
        calls_before = self._syscalls(target)
        outcome = h2load.run(argv, log_file, load.guard_s())
        calls_after = self._syscalls(target)
        after = self._cpu(target, problems)
        log_file.unlink(missing_ok=True)  # large; everything needed is in the result
        if outcome.problem is not None:
            problems.append(outcome.problem)
        else:
            problems += validation.problems(
                outcome.summary,
                outcome.log,
                requests=load.requests,
                response_bytes=response_bytes(
                    scenario.payload_bytes, tool_timeout_s=target.tool_timeout_s
                ),
            )
        proxy_cpu = tool_cpu = None
        if before is not None and after is not None:
            proxy_cpu = after[0] - before[0] if target.proxy_pid is not None else None
            tool_cpu = after[1] - before[1]
        rss = None
        if target.proxy_pid is not None:
            try:
                rss = rss_bytes(target.proxy_pid)
            except ProcError as error:
                problems.append(f"{target.name}: {error}")
        return RoundResult(
            target=target.name,
            scenario=scenario,
            index=index,
            problems=tuple(problems),
            requests=load.requests,
            requests_per_s=outcome.summary.requests_per_s if outcome.summary else 0.0,
            durations_us=tuple(entry.duration_us for entry in outcome.log),
            proxy_cpu_s=proxy_cpu,
            tool_cpu_s=tool_cpu,
            proxy_rss_bytes=rss,
            proxy_calls=(
                calls_after - calls_before
                if calls_before is not None and calls_after is not None
                else None
            ),
        )

    @staticmethod
    def _syscalls(target: Target) -> IoCalls | None:
        """The forwarding process's system calls so far; None when direct or unreadable
        (a process that is gone is already reported by the CPU reading)."""
        if target.proxy_pid is None:
            return None
        try:
            return syscalls(target.proxy_pid)
        except ProcError:
            return None

    def _cpu(self, target: Target, problems: list[str]) -> tuple[float, float] | None:
        """(proxy, tool) CPU seconds so far; None (and a problem) when a process is gone."""
        try:
            proxy = cpu_seconds(target.proxy_pid) if target.proxy_pid is not None else 0.0
            return proxy, cpu_seconds(self.tool_pid)
        except ProcError as error:
            problems.append(f"process gone: {error}")
            return None


def _describe(result: RoundResult, rounds: int) -> str:
    scenario = result.scenario
    head = (
        f"{scenario.payload_label:>6} {scenario.mode:>7} round {result.index + 1}/{rounds}"
        f" {result.target:<19}"
    )
    if not result.valid:
        return f"{head} INVALID: {'; '.join(result.problems)}"
    return f"{head} {result.requests_per_s:9.1f} req/s"
