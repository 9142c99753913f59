"""Where the sidecar's CPU goes: a py-spy sample of it under closed-loop load, summarized.

py-spy records collapsed stacks (`--format raw`: one line per distinct stack, frames
separated by ';', then the sample count). The summary ranks functions by self time (the
frame on top of the stack: where the CPU actually was) and by total time (present anywhere
in the stack), and modules by self time. Native frames without a symbol are grouped by
library. py-spy leaves out samples of threads it sees idle, but with native frames a thread
blocked in the event loop's poll (`epoll_wait`) or on a lock (an idle worker thread) still
shows up; such samples are counted as waiting too, so percentages are of the time the
sidecar was busy.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.processes import stop

_FRAME = re.compile(r"^(?P<name>.*) \((?P<where>[^()]*)\)$")
_ADDRESS = re.compile(r"^0x[0-9a-f]+$")
# Functions in which a thread waits for work rather than using the CPU. A sample counts as
# waiting when its top named frame is one of them (frames above it may be unnamed libc).
WAITING = frozenset(
    {
        "PyThread_acquire_lock_timed",  # an idle worker thread blocked on its queue
        "sem_wait",
        "sem_timedwait",
        "sem_clockwait",
        "epoll_wait",
        "epoll_pwait",
        "epoll_pwait2",
        "poll",
        "ppoll",
        "select",
        "pselect",
        "nanosleep",
        "clock_nanosleep",
        "pthread_cond_wait",
        "pthread_cond_timedwait",
    }
)


class ProfileError(RuntimeError):
    """py-spy failed or wrote nothing usable; the message quotes it."""


# Where a leaf frame's time belongs, for a first reading of the profile.
_SOCKET_CALLS = frozenset(
    {"write", "writev", "read", "readv", "send", "sendmsg", "sendto", "recv", "recvmsg", "recvfrom"}
)
_EVENT_LOOP_MODULES = ("loop.c", "linux.c", "core.c", "stream.c", "uv-common.c", "uvloop/")


def area(function: str, module: str) -> str:
    """The broad area of a leaf frame: sidecar code, socket calls, the event loop, ..."""
    name = function.partition(" (")[0]
    if module.startswith("sidecar/"):
        return "sidecar Python code (sidecar/)"
    if name in _SOCKET_CALLS:
        return "socket system calls (read/write: kernel TCP work included)"
    if name.startswith("gc_"):
        return "garbage collection"
    if module.startswith(_EVENT_LOOP_MODULES):
        return "event loop (uvloop/libuv)"
    if module.startswith("hpack/"):
        return "hpack library"
    if module.startswith("libc.so"):
        return "other libc (allocation, other system calls, unresolved)"
    return "Python interpreter and other native code"


@dataclass(frozen=True, slots=True)
class Ranked:
    """One function or module with its share of busy samples, in percent."""

    name: str
    self_pct: float
    total_pct: float


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    samples: int  # busy samples: the base of every percentage
    waiting_samples: int  # samples whose top frame is one of WAITING, left out
    areas: tuple[Ranked, ...]  # by self time, descending (total % is not tracked: 0)
    functions: tuple[Ranked, ...]  # by self time, descending
    modules: tuple[Ranked, ...]  # by self time, descending


def frame_key(frame: str) -> tuple[str, str]:
    """(function, module) of one collapsed-stack frame such as
    `Relay.start_call (sidecar/relay/relay.py:140)` or `0x7f12 (libc.so.6)`."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "?"
    name, where = match["name"], match["where"]
    module = where.rsplit(":", 1)[0] if re.search(r":\d+$", where) else where
    if _ADDRESS.match(name):
        return f"[native] {module}", module
    return f"{name} ({module})", module


def _waiting(keys: list[tuple[str, str]]) -> bool:
    """True when the stack's top named frame is a function that blocks (see WAITING)."""
    for function, _module in reversed(keys):
        if not function.startswith("[native]"):
            return function.partition(" ")[0] in WAITING
    return False


def summarize(raw: str, top: int = 15) -> ProfileSummary:
    """Ranks functions and modules in py-spy's collapsed stacks (`raw`)."""
    self_functions: Counter[str] = Counter()
    total_functions: Counter[str] = Counter()
    self_modules: Counter[str] = Counter()
    self_areas: Counter[str] = Counter()
    total_modules: Counter[str] = Counter()
    samples = waiting = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        keys = [frame_key(frame) for frame in stack.split(";")]
        if _waiting(keys):
            waiting += count
            continue
        function, module = keys[-1]
        samples += count
        self_functions[function] += count
        self_modules[module] += count
        self_areas[area(function, module)] += count
        for name in {key[0] for key in keys}:
            total_functions[name] += count
        for name in {key[1] for key in keys}:
            total_modules[name] += count
    if samples == 0:
        raise ProfileError("the profile holds no samples (was the sidecar busy?)")

    def ranked(self_counts: Counter[str], totals: Counter[str]) -> tuple[Ranked, ...]:
        return tuple(
            Ranked(name, 100.0 * count / samples, 100.0 * totals[name] / samples)
            for name, count in self_counts.most_common(top)
        )

    return ProfileSummary(
        samples,
        waiting,
        ranked(self_areas, Counter()),
        ranked(self_functions, total_functions),
        ranked(self_modules, total_modules),
    )


def start_recording(py_spy: str, pid: int, duration_s: int, output: Path) -> subprocess.Popen[str]:
    """Starts `py-spy record` on `pid` for `duration_s` seconds, native frames included."""
    argv = [
        py_spy,
        "record",
        "--native",
        "--rate",
        "200",
        "--duration",
        str(duration_s),
        "--format",
        "raw",
        "--output",
        str(output),
        "--pid",
        str(pid),
    ]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_recording(recorder: subprocess.Popen[str], output: Path, timeout_s: float) -> str:
    """Waits for the recorder to exit (stopping it by PID past `timeout_s`); returns the
    collapsed stacks it wrote. Raises ProfileError when it failed."""
    try:
        printed, _ = recorder.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(recorder)
        raise ProfileError(f"py-spy did not finish within {timeout_s:.0f}s") from None
    if recorder.returncode != 0 or not output.exists():
        raise ProfileError(f"py-spy failed ({recorder.returncode}): {printed.strip()[-300:]}")
    return output.read_text(encoding="utf-8", errors="replace")


def markdown(summary: ProfileSummary, context: str) -> str:
    """The summary as Markdown: `context` says what load was running."""
    out = [
        f"{context} {summary.samples} busy samples ({summary.waiting_samples} more waiting in"
        " the event loop's poll or on a lock, left out).",
        "",
        "By area (self time):",
        "",
        "| area | self % |",
        "| --- | ---: |",
        *(f"| {r.name} | {r.self_pct:.1f} |" for r in summary.areas),
        "",
        "Top functions by self time (where the CPU was):",
        "",
        "| function (module) | self % | total % |",
        "| --- | ---: | ---: |",
    ]
    out += [f"| `{r.name}` | {r.self_pct:.1f} | {r.total_pct:.1f} |" for r in summary.functions]
    out += [
        "",
        "Modules by self time:",
        "",
        "| module | self % | total % |",
        "| --- | ---: | ---: |",
    ]
    out += [f"| `{r.name}` | {r.self_pct:.1f} | {r.total_pct:.1f} |" for r in summary.modules]
    return "\n".join(out)
