"""Echo tool instances with faults of their own, and what each of them received.

Each instance is a `python -m examples.tools.echo` process started with `--instance LABEL`,
`--latency-ms`, `--fail-rate`, `--seed` and `--report-calls`; sent SIGUSR1 (by its PID), it
prints `echo calls: received=N cancelled=N failed=N`, its totals since start. The difference
between two readings is what the instance saw during a run: every attempt the sidecar sent
it (hedges and retries included), the attempts the sidecar cancelled while the instance was
still delaying them (hedge losers), and the attempts it failed on purpose.
"""

from __future__ import annotations

import os
import re
import signal
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.echo_tool import start_echo
from bench.processes import RunningProcess, StartError

_REPORT = re.compile(r"^echo calls: received=(\d+) cancelled=(\d+) failed=(\d+)$")
REPORT_DEADLINE_S = 5.0  # for an instance to answer SIGUSR1
REPORT_POLL_S = 0.005


class CountError(RuntimeError):
    """An instance did not report its calls; the message names it."""


@dataclass(frozen=True, slots=True)
class InstanceSpec:
    """One instance of the echo tool: its label and its faults (see `--latency-ms`,
    `--fail-rate` of the echo tool)."""

    label: str
    latency_ms: int = 0
    fail_rate: float = 0.0

    def describe(self) -> str:
        """`fast` / `slow (+50 ms)` / `flaky (50 % UNAVAILABLE)`."""
        faults = []
        if self.latency_ms:
            faults.append(f"+{self.latency_ms} ms")
        if self.fail_rate:
            faults.append(f"{self.fail_rate:.0%} UNAVAILABLE".replace("%", " %"))
        return f"{self.label} ({', '.join(faults)})" if faults else self.label

    def options(self, seed: int) -> list[str]:
        """The echo tool's options for this instance (see `echo_tool.echo_argv`)."""
        options = ["--instance", self.label, "--seed", str(seed), "--report-calls"]
        if self.latency_ms:
            options += ["--latency-ms", str(self.latency_ms)]
        if self.fail_rate:
            options += ["--fail-rate", repr(self.fail_rate)]
        return options


@dataclass(frozen=True, slots=True)
class CallCounts:
    """Calls an instance saw: received, cancelled while it delayed them, failed on purpose."""

    received: int = 0
    cancelled: int = 0
    failed: int = 0

    def __sub__(self, earlier: CallCounts) -> CallCounts:
        return CallCounts(
            self.received - earlier.received,
            self.cancelled - earlier.cancelled,
            self.failed - earlier.failed,
        )

    def __add__(self, other: CallCounts) -> CallCounts:
        return CallCounts(
            self.received + other.received,
            self.cancelled + other.cancelled,
            self.failed + other.failed,
        )

    @property
    def answered(self) -> int:
        """Attempts the instance answered successfully (neither cancelled nor failed)."""
        return self.received - self.cancelled - self.failed


def parse_report(line: str) -> CallCounts | None:
    """The counts of one `echo calls: ...` line; None for any other line."""
    match = _REPORT.match(line.strip())
    if match is None:
        return None
    return CallCounts(int(match[1]), int(match[2]), int(match[3]))


@dataclass(frozen=True, slots=True)
class RunningInstance:
    spec: InstanceSpec
    process: RunningProcess

    @property
    def address(self) -> str:
        return self.process.address

    def counts(self, deadline_s: float = REPORT_DEADLINE_S) -> CallCounts:
        """Asks the instance for its totals (SIGUSR1 to its PID) and waits for the answer.

        Raises CountError when the process is gone or prints no report within `deadline_s`.
        """
        lines = self.process.stdout_lines
        seen = len(lines)
        try:
            os.kill(self.process.pid, signal.SIGUSR1)
        except ProcessLookupError:
            raise CountError(f"echo instance {self.spec.label!r} has exited") from None
        deadline = time.monotonic() + deadline_s
        while True:
            # The reader thread appends stdout lines; nothing to await across threads here.
            for line in lines[seen:]:
                counts = parse_report(line)
                if counts is not None:
                    return counts
            seen = len(lines)
            if time.monotonic() > deadline:
                raise CountError(
                    f"echo instance {self.spec.label!r} (pid {self.process.pid}) printed no"
                    f" call report within {deadline_s:.0f}s of SIGUSR1:"
                    f" {self.process.stderr_tail()}"
                )
            time.sleep(REPORT_POLL_S)


def start_instances(
    stack: ExitStack, work: Path, repo: Path, specs: tuple[InstanceSpec, ...], seed: int
) -> list[RunningInstance]:
    """Starts every instance (stopped by PID when `stack` closes); instance i is seeded with
    `seed + i`. Raises StartError when one does not come up."""
    started: list[RunningInstance] = []
    for index, spec in enumerate(specs):
        if not spec.label:
            raise StartError("an echo instance needs a label")
        process = start_echo(
            stack, work, repo, name=f"echo-{spec.label}", options=spec.options(seed + index)
        )
        started.append(RunningInstance(spec, process))
    return started
