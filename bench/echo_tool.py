"""The example echo tool as a process the benchmarks start: its command line, and the line
by which it says where it listens."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from bench.processes import RunningProcess, running

ECHO_LISTENING = re.compile(r"echo listening on (?P<address>\S+)")


def echo_argv(options: Sequence[str] = ()) -> list[str]:
    """The echo tool's command line on a free port of 127.0.0.1, followed by `options`."""
    return [sys.executable, "-m", "examples.tools.echo", "--listen", "127.0.0.1:0", *options]


def start_echo(
    stack: ExitStack, work: Path, repo: Path, *, name: str = "echo", options: Sequence[str] = ()
) -> RunningProcess:
    """The echo tool (with `options`) run from `repo` under `name`, its logs in `work`,
    returned once it says where it listens and stopped by PID when `stack` closes.

    Raises StartError when it does not come up."""
    return stack.enter_context(
        running(name, echo_argv(options), log_dir=work, listening=ECHO_LISTENING, cwd=repo)
    )
