"""Child processes that announce their address (`NAME listening on HOST:PORT`), stopped by PID.

Each child's output (stdout and stderr together) is copied line by line to a log file by a
reader thread, which also spots the listening line; so the pipe never fills up and a failure
can quote the child's last words. Children run in their own session: Ctrl-C in a terminal
reaches only the parent, which then stops them in order.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

_EXIT_AFTER_EOF_S = 5.0  # how long a child whose output ended gets to exit
_DEBUG = "TOOLMESH_DEBUG"  # kept for children: a failing child can then show its traceback


class ProcessFailed(RuntimeError):
    """A child that did not start (exited, or never said where it listens)."""


@dataclass
class Child:
    """One started process and what its output has told so far."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    ready_pattern: re.Pattern[str]
    address: str | None = None
    last_lines: deque[str] = field(default_factory=lambda: deque(maxlen=5))
    announced: threading.Event = field(default_factory=threading.Event)
    reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def last_words(self) -> str:
        """The child's last non-empty output line, for error messages."""
        lines = [line for line in self.last_lines if line.strip()]
        return lines[-1].strip() if lines else "(no output)"


class ChildProcesses:
    """The processes one command started; `stop_all` ends every one of them by its PID."""

    def __init__(self, log_dir: Path, environment: Mapping[str, str]) -> None:
        self._log_dir = log_dir
        self._environment = dict(environment)
        self._children: list[Child] = []

    def __enter__(self) -> ChildProcesses:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_all()

    @property
    def children(self) -> tuple[Child, ...]:
        return tuple(self._children)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        announces_as: str,
        extra_environment: Mapping[str, str] | None = None,
    ) -> Child:
        """Starts `argv`; its readiness is the line `ANNOUNCES_AS listening on ADDRESS`.

        `extra_environment` adds to (or replaces in) the environment given at construction.
        """
        log_path = self._log_dir / f"{name}.log"
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**self._environment, **(extra_environment or {})},
            start_new_session=True,
        )
        pattern = re.compile(rf"^{re.escape(announces_as)} listening on (\S+)\s*$")
        child = Child(name, process, log_path, pattern)
        assert process.stdout is not None  # stdout=PIPE
        child.reader = threading.Thread(
            target=_copy_output, args=(child, process.stdout), name=f"log-{name}", daemon=True
        )
        child.reader.start()
        self._children.append(child)
        return child

    def wait_ready(self, child: Child, *, deadline_s: float) -> str:
        """The address `child` announced; raises ProcessFailed if it exits or stays silent."""
        if not child.announced.wait(deadline_s) or child.address is None:
            code = child.process.poll()
            if code is None and child.announced.is_set():
                # Its output ended without the line: it is exiting; let it finish, briefly.
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = child.process.wait(_EXIT_AFTER_EOF_S)
            if code is not None:
                raise ProcessFailed(
                    f"{child.name} exited with code {code} before listening: "
                    f"{child.last_words()} (log: {child.log_path})"
                )
            if child.announced.is_set():
                raise ProcessFailed(
                    f"{child.name} closed its output without listening: {child.last_words()} "
                    f"(log: {child.log_path})"
                )
            raise ProcessFailed(
                f"{child.name} did not report listening within {deadline_s:g}s "
                f"(log: {child.log_path})"
            )
        return child.address

    def stop_all(self, *, grace_s: float = 5.0) -> None:
        """SIGTERM to every running child (last started first), SIGKILL after `grace_s`.

        Returns once every child has exited and its output is in its log.
        """
        running = [c for c in reversed(self._children) if c.process.poll() is None]
        for child in running:
            _signal(child, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in running:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(child, signal.SIGKILL)
                child.process.wait()
        for child in self._children:
            if child.reader is not None:
                child.reader.join(timeout=2.0)
        self._children.clear()


def child_environment(*, python_path: Sequence[Path] = ()) -> dict[str, str]:
    """This process's environment for children: unbuffered output, no TOOLMESH_* settings
    (a demo mesh must not pick up the user's ports, tokens or files) except TOOLMESH_DEBUG,
    `python_path` first on PYTHONPATH."""
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith("TOOLMESH_") or k == _DEBUG
    }
    environment["PYTHONUNBUFFERED"] = "1"
    if python_path:
        existing = environment.get("PYTHONPATH")
        parts = [str(p) for p in python_path] + ([existing] if existing else [])
        environment["PYTHONPATH"] = os.pathsep.join(parts)
    return environment


def _copy_output(child: Child, stream: IO[bytes]) -> None:
    with child.log_path.open("w", encoding="utf-8") as log:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            log.write(line)
            log.flush()
            child.last_lines.append(line)
            if child.address is None:
                match = child.ready_pattern.match(line)
                if match:
                    child.address = match.group(1)
                    child.announced.set()
    stream.close()
    child.announced.set()  # end of output: whoever waits for the listening line stops waiting


def _signal(child: Child, signum: signal.Signals) -> None:
    # It may have exited between the check and the signal: then there is nothing to stop.
    with contextlib.suppress(ProcessLookupError):
        os.kill(child.pid, signum)
