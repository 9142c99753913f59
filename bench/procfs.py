"""A process's CPU time, system calls and resident memory, and the machine's busy time,
read from /proc (Linux).

CPU time is user + system time of all the process's threads, in seconds, at the kernel's
clock-tick resolution (usually 10 ms): a benchmark takes the difference over a run that
costs far more than a tick. System calls are the read-like and write-like calls counted in
/proc/PID/io (every socket read and write is one). Resident memory is VmRSS, in bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


class ProcError(RuntimeError):
    """A /proc file could not be read or understood; the message names the file."""


def cpu_ticks_from_stat(stat_text: str) -> int:
    """utime + stime (clock ticks) from the text of /proc/PID/stat.

    The second field (the command name) is in parentheses and may contain spaces and
    parentheses itself, so fields are counted after the last ')'.
    """
    close = stat_text.rfind(")")
    if close < 0:
        raise ProcError(f"stat text has no ')' after the command name: {stat_text[:80]!r}")
    fields = stat_text[close + 1 :].split()
    # After the name come state (field 3), ... utime (field 14) and stime (field 15).
    try:
        return int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        raise ProcError(f"stat text has no utime/stime fields: {stat_text[:80]!r}") from None


def rss_kib_from_status(status_text: str) -> int:
    """VmRSS in KiB from the text of /proc/PID/status."""
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1])
    raise ProcError("status text has no 'VmRSS: N kB' line (is the process a zombie?)")


def read_proc_file(path: str) -> str:
    """The text of the /proc file `path`. Raises ProcError, naming it, when it cannot be read
    (most often: the process has exited)."""
    try:
        # errors="replace": a command name in /proc/PID/stat may hold any bytes.
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.read()
    except OSError as error:
        raise ProcError(f"{path}: {error.strerror}") from None


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process `pid` has used so far."""
    return cpu_ticks_from_stat(read_proc_file(f"/proc/{pid}/stat")) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    """Resident set size of the process `pid`, in bytes."""
    return rss_kib_from_status(read_proc_file(f"/proc/{pid}/status")) * 1024


@dataclass(frozen=True, slots=True)
class IoCalls:
    """System calls counted in /proc/PID/io: read-like (syscr) and write-like (syscw)."""

    reads: int
    writes: int

    def __sub__(self, earlier: IoCalls) -> IoCalls:
        return IoCalls(self.reads - earlier.reads, self.writes - earlier.writes)


def syscalls_from_io(io_text: str) -> IoCalls:
    """The read-like and write-like system call counts from the text of /proc/PID/io."""
    counts: dict[str, int] = {}
    for line in io_text.splitlines():
        key, _, value = line.partition(":")
        if key in ("syscr", "syscw") and value.strip().isdigit():
            counts[key] = int(value)
    if len(counts) != 2:
        raise ProcError("io text lacks 'syscr:' or 'syscw:'")
    return IoCalls(reads=counts["syscr"], writes=counts["syscw"])


def syscalls(pid: int) -> IoCalls:
    """Read-like and write-like system calls the process `pid` has made so far."""
    return syscalls_from_io(read_proc_file(f"/proc/{pid}/io"))


def busy_seconds_from_stat(stat_text: str) -> float:
    """CPU seconds all CPUs spent busy (user, nice, system, irq, softirq), from /proc/stat.

    Interrupt time is included because the kernel charges the network work it does in soft
    interrupts to the processes' stime too: under loopback load, the sum of the processes'
    utime + stime matches this figure, not user + nice + system alone.
    """
    for line in stat_text.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            try:
                # user nice system idle iowait irq softirq
                ticks = sum(int(fields[i]) for i in (1, 2, 3, 6, 7))
            except (IndexError, ValueError):
                break
            return ticks / os.sysconf("SC_CLK_TCK")
    raise ProcError("/proc/stat has no aggregate 'cpu' line")


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine since boot (see busy_seconds_from_stat)."""
    return busy_seconds_from_stat(read_proc_file("/proc/stat"))
