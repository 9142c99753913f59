"""CPU time and RSS read from /proc."""

from __future__ import annotations

import os

import pytest

from bench.procfs import (
    IoCalls,
    ProcError,
    busy_seconds_from_stat,
    cpu_seconds,
    cpu_ticks_from_stat,
    read_proc_file,
    rss_bytes,
    rss_kib_from_status,
    syscalls_from_io,
)

# A command name with spaces and parentheses: fields are counted after the last ')'.
STAT = "4242 (odd (name) x) S 1 4242 4242 0 -1 4194304 900 0 0 0 150 25 0 0 20 0 3 0 100 0 0"


def test_utime_plus_stime_after_an_awkward_command_name() -> None:
    assert cpu_ticks_from_stat(STAT) == 175


def test_truncated_stat_is_an_error() -> None:
    with pytest.raises(ProcError, match="utime"):
        cpu_ticks_from_stat("1 (x) S 1 2")


def test_vm_rss_in_kib() -> None:
    assert rss_kib_from_status("Name:\tpython\nVmRSS:\t   48120 kB\nThreads:\t3\n") == 48120
    with pytest.raises(ProcError, match="VmRSS"):
        rss_kib_from_status("Name:\tzombie\n")


def test_this_process_has_cpu_time_and_memory() -> None:
    before = cpu_seconds(os.getpid())
    sum(i * i for i in range(300_000))
    assert cpu_seconds(os.getpid()) >= before > 0
    assert rss_bytes(os.getpid()) > 1_000_000


def test_read_and_write_calls_from_io() -> None:
    text = "rchar: 6976\nwchar: 0\nsyscr: 10\nsyscw: 4\nread_bytes: 0\n"
    assert syscalls_from_io(text) == IoCalls(reads=10, writes=4)
    assert IoCalls(12, 9) - IoCalls(10, 4) == IoCalls(2, 5)
    with pytest.raises(ProcError, match="syscw"):
        syscalls_from_io("syscr: 1\n")


def test_machine_busy_time_counts_interrupts_but_not_idle() -> None:
    text = "cpu  100 20 30 5000 7 8 9 0 0 0\ncpu0 50 10 15 2500 3 4 4 0 0 0\n"
    assert busy_seconds_from_stat(text) == pytest.approx(167 / os.sysconf("SC_CLK_TCK"))


def test_a_file_that_cannot_be_read_is_named_in_the_error() -> None:
    missing = "/proc/0/status"  # pid 0 has no /proc entry
    with pytest.raises(ProcError, match=r"^/proc/0/status: "):
        read_proc_file(missing)
    assert read_proc_file(f"/proc/{os.getpid()}/status").startswith("Name:")
