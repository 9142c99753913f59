"""`toolmesh demo`, end to end: a whole mesh started, called through and stopped."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import pytest

from mesh.cli.processes import ChildProcesses
from tests.cli.conftest import requires_mesh, run_toolmesh

pytestmark = requires_mesh

DEMO_DEADLINE_S = 60.0


def assert_gone(pids: list[int]) -> None:
    """Every pid has exited (the demo waited for each, so none is left even as a zombie)."""
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_demo_runs_every_step_and_exits_0() -> None:
    result = run_toolmesh("demo")
    assert result.code == 0, result.stdout + result.stderr
    out = result.stdout
    # Processes started, each with its address and pid.
    for name in ("registry", "echo", "email_parser", "sentiment", "customer_lookup",
                 "priority_router", "sidecar"):  # fmt: skip
        assert re.search(rf"started {name}\s+127\.0\.0\.1:\d+\s+pid \d+", out), name
    # Tools registered through the register code path, and listed by the sidecar.
    for service in ("echo.v1.Echo", "support.v1.EmailParser", "support.v1.Sentiment",
                    "support.v1.CustomerLookup", "support.v1.PriorityRouter"):  # fmt: skip
        assert re.search(rf"registered \w+ \(services {re.escape(service)}; 1 endpoint\)", out)
    assert "the sidecar lists 5 tools" in out
    # The pipeline's results, each with a latency.
    assert re.search(r"1\. email_parser\s+/support\.v1\.EmailParser/Parse\s+[\d.]+ ms", out)
    assert (
        "sender ada@acme-rockets.example (Ada Lovelace), customer CUST-1001, orders ORD-55012"
        in out
    )
    assert re.search(r"2\. sentiment .*\n\s+score -0\.\d\d \(negative\)", out)
    assert re.search(r"3\. customer_lookup .*\n\s+Acme Rockets Ltd, enterprise plan", out)
    assert re.search(r"4\. priority_router .*\n\s+P1 to the technical queue, because: ", out)
    # The JSON call through Invoke, with its answer.
    assert "sentiment/Analyze" in out
    assert '"label": "LABEL_POSITIVE"' in out
    assert out.rstrip().endswith("stopped 7 processes")
    assert_gone([int(pid) for pid in re.findall(r"pid (\d+)", out)])
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_demo_serve_keeps_running_until_interrupted(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    with ChildProcesses(logs, {**os.environ, "PYTHONUNBUFFERED": "1"}) as processes:
        demo = processes.spawn(
            "demo",
            [
                sys.executable,
                "-m",
                "mesh.cli.main",
                "demo",
                "--serve",
                "--dir",
                str(tmp_path / "mesh"),
            ],
            announces_as="toolmesh demo",
        )
        sidecar = processes.wait_ready(demo, deadline_s=DEMO_DEADLINE_S)
        listed = run_toolmesh("tools", "--sidecar", sidecar)
        assert listed.code == 0, listed.stderr
        assert listed.stdout.splitlines()[-1].startswith("5 tools, catalog version ")
        demo.process.send_signal(stop_signal)
        assert demo.process.wait(timeout=DEMO_DEADLINE_S) == 0
    out = demo.log_path.read_text()
    assert f"toolmesh call --sidecar {sidecar} sentiment/Analyze" in out
    assert "grpcurl -plaintext -d" in out
    assert out.rstrip().endswith("stopped 7 processes")
    assert_gone([int(pid) for pid in re.findall(r"pid (\d+)", out)])
    # With --dir the directory stays, with the registry's database and every log.
    assert (tmp_path / "mesh" / "registry.db").exists()
    assert (tmp_path / "mesh" / "sidecar.log").exists()
