"""How busy the machine was with work that is not the benchmark's own.

The figures only mean something on an otherwise quiet machine. The meter compares the
machine's busy CPU time over the measurement with the CPU time of the benchmark's own
processes (its servers, h2load and itself); what remains is other load, reported beside the
results so a reader can tell a quiet run from a disturbed one.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.procfs import ProcError, cpu_seconds, machine_busy_seconds


@dataclass(frozen=True, slots=True)
class Background:
    """Other processes' CPU use during the measurement, in cores (1.0 = one busy core)."""

    cores: float
    wall_s: float

    def sentence(self) -> str:
        """How much other work shared the machine while the rounds ran (no final stop)."""
        return (
            f"Other load on the machine during the rounds: {self.cores:.2f} cores on average"
            f" over {self.wall_s:.0f} s (CPU time not used by the benchmark's own processes)"
        )


def _own_seconds(pids: Iterable[int]) -> float:
    """CPU seconds of the benchmark process, its reaped children (h2load runs) and `pids`."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except ProcError:
            continue  # a process that died: its time is lost either way, the meter is an estimate
    return total


class BackgroundMeter:
    """Start before the first round and `stop()` after the last, while the servers run.

    `pids` returns the PIDs of the benchmark's running servers when called.
    """

    def __init__(self, pids: Callable[[], Iterable[int]]) -> None:
        self._pids = pids
        self._started = time.monotonic()
        self._busy = machine_busy_seconds()
        self._own = _own_seconds(pids())

    def stop(self) -> Background:
        wall = time.monotonic() - self._started
        busy = machine_busy_seconds() - self._busy
        own = _own_seconds(self._pids()) - self._own
        return Background(cores=max(busy - own, 0.0) / wall if wall > 0 else 0.0, wall_s=wall)
