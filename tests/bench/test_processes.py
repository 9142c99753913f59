"""Processes the benchmark starts are awaited by their listening line and stopped by PID."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from bench.processes import StartError, running

LISTENING = re.compile(r"tool listening on (?P<address>\S+)")
SERVER = "import sys, time; print('tool listening on 127.0.0.1:4321', flush=True); time.sleep(60)"
CRASH = "import sys; print('cannot bind', file=sys.stderr); sys.exit(3)"


def test_address_is_read_and_the_process_stopped_on_exit(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", SERVER]
    with running("tool", argv, log_dir=tmp_path, listening=LISTENING) as process:
        assert process.address == "127.0.0.1:4321"
        assert process.popen.poll() is None
    assert process.popen.returncode is not None  # stopped and reaped


def test_a_process_exiting_before_listening_is_reported_with_its_stderr(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", CRASH]
    with (
        pytest.raises(StartError, match=r"tool exited with code 3: cannot bind"),
        running("tool", argv, log_dir=tmp_path, listening=LISTENING),
    ):
        pass
