"""Child processes that announce their address, and stopping them by PID."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mesh.cli.processes import ChildProcesses, ProcessFailed, child_environment


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


ANNOUNCE_AND_WAIT = (
    "import time\n"
    "print('starting up')\n"
    "print('thing listening on 127.0.0.1:4242', flush=True)\n"
    "time.sleep(60)\n"
)
IGNORE_SIGTERM = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('stubborn listening on 127.0.0.1:1', flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def children(tmp_path: Path) -> ChildProcesses:
    return ChildProcesses(tmp_path, child_environment())


def test_announced_address_is_returned_and_output_logged(children: ChildProcesses) -> None:
    with children:
        child = children.spawn("thing", python(ANNOUNCE_AND_WAIT), announces_as="thing")
        assert children.wait_ready(child, deadline_s=10) == "127.0.0.1:4242"
        pid = child.pid
    assert child.process.returncode is not None  # stopped on leaving the block
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert child.log_path.read_text().splitlines()[:2] == [
        "starting up",
        "thing listening on 127.0.0.1:4242",
    ]


def test_exit_before_listening_quotes_the_last_words(children: ChildProcesses) -> None:
    with children:
        child = children.spawn(
            "quitter", python("import sys; print('cannot bind: busy'); sys.exit(3)"),
            announces_as="quitter",
        )  # fmt: skip
        with pytest.raises(ProcessFailed) as caught:
            children.wait_ready(child, deadline_s=10)
    assert str(caught.value) == (
        f"quitter exited with code 3 before listening: cannot bind: busy (log: {child.log_path})"
    )


def test_silence_is_bounded(children: ChildProcesses) -> None:
    with children:
        child = children.spawn("mute", python("import time; time.sleep(60)"), announces_as="mute")
        with pytest.raises(ProcessFailed, match=r"^mute did not report listening within 0.3s"):
            children.wait_ready(child, deadline_s=0.3)


def test_a_child_ignoring_sigterm_is_killed_after_the_grace_period(
    children: ChildProcesses,
) -> None:
    child = children.spawn("stubborn", python(IGNORE_SIGTERM), announces_as="stubborn")
    try:
        children.wait_ready(child, deadline_s=10)
    finally:
        children.stop_all(grace_s=0.3)
    assert child.process.returncode == -9
    assert children.children == ()


def test_children_do_not_inherit_toolmesh_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_REGISTRY", "127.0.0.1:1")
    monkeypatch.setenv("TOOLMESH_DEBUG", "1")
    environment = child_environment(python_path=[Path("/somewhere")])
    assert "TOOLMESH_REGISTRY" not in environment
    assert environment["TOOLMESH_DEBUG"] == "1"
    assert environment["PYTHONUNBUFFERED"] == "1"
    assert environment["PYTHONPATH"].split(os.pathsep)[0] == "/somewhere"
