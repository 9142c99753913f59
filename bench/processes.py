"""Processes the benchmark starts: started with their output captured, stopped by PID.

`running` is a context manager: whatever happens inside it (an error, Ctrl-C), the process
is sent SIGTERM by its PID on the way out, and SIGKILL if it has not exited after a grace
period. A server is ready when it prints its `... listening on HOST:PORT` line; the line is
awaited with a deadline, and a process that exits first is reported with its stderr.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

STOP_GRACE_S = 5.0  # how long a process gets to exit after SIGTERM before SIGKILL


class StartError(RuntimeError):
    """A process did not come up; the message names it and quotes its last stderr lines."""


@dataclass
class RunningProcess:
    """A started process. `address` is the HOST:PORT from its listening line ('' if none)."""

    name: str
    popen: subprocess.Popen[str]
    stderr_path: Path
    address: str = ""
    stdout_lines: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stderr_tail(self, lines: int = 5) -> str:
        """The last `lines` lines the process wrote to stderr, joined with ' / '."""
        try:
            text = self.stderr_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return " / ".join(text.strip().splitlines()[-lines:])

    def ensure_alive(self) -> None:
        """Raises StartError when the process has exited."""
        code = self.popen.poll()
        if code is not None:
            raise StartError(f"{self.name} exited with code {code}: {self.stderr_tail()}")


@contextmanager
def running(
    name: str,
    argv: list[str],
    *,
    log_dir: Path,
    listening: re.Pattern[str] | None = None,
    start_timeout_s: float = 30.0,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Iterator[RunningProcess]:
    """Starts `argv`, waits for the first stdout line matching `listening` (its `address`
    group becomes `.address`), yields the process and stops it by PID on exit.

    stderr goes to `log_dir/NAME.stderr`; `env` is the whole environment (None: this
    process's). Raises StartError when the line does not appear
    within `start_timeout_s` or the process exits before printing it.
    """
    stderr_path = log_dir / f"{name}.stderr"
    with stderr_path.open("w", encoding="utf-8") as stderr:
        popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=cwd,
            env=None if env is None else dict(env),
        )
    process = RunningProcess(name, popen, stderr_path)
    announced = threading.Event()
    reader = threading.Thread(
        target=_read_stdout, args=(process, listening, announced), daemon=True
    )
    try:
        reader.start()
        if listening is not None:
            if not announced.wait(start_timeout_s):
                raise StartError(
                    f"{name} printed no listening line within {start_timeout_s:.0f}s: "
                    f"{process.stderr_tail()}"
                )
            if not process.address:
                process.popen.wait(STOP_GRACE_S)
                process.ensure_alive()
                raise StartError(f"{name} closed its output without a listening line")
        yield process
    finally:
        stop(popen)
        reader.join(STOP_GRACE_S)  # the process is gone: its stdout reaches EOF
        if popen.stdout is not None:
            popen.stdout.close()


def _read_stdout(
    process: RunningProcess, listening: re.Pattern[str] | None, announced: threading.Event
) -> None:
    """Drains the process's stdout (so it never blocks on a full pipe) until EOF."""
    stream = process.popen.stdout
    assert stream is not None  # opened with stdout=PIPE
    for line in stream:
        process.stdout_lines.append(line.rstrip("\n"))
        if listening is not None and not process.address:
            match = listening.search(line)
            if match is not None:
                process.address = match["address"]
                announced.set()
    announced.set()  # EOF: the process is gone, or closed stdout


def stop(popen: subprocess.Popen[str], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to the process's PID, then SIGKILL after `grace_s`; reaps it either way."""
    if popen.poll() is not None:
        return
    try:
        os.kill(popen.pid, signal.SIGTERM)
    except ProcessLookupError:  # it exited between poll() and kill(): only reap it
        popen.wait(grace_s)
        return
    try:
        popen.wait(grace_s)
    except subprocess.TimeoutExpired:
        os.kill(popen.pid, signal.SIGKILL)
        popen.wait(grace_s)
