"""Profiling a sidecar under load: the flags, the load sized to outlast the recording, and
the Markdown summary (py-spy stood in for by a process writing collapsed stacks)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench import profile, profiled_run
from bench.h2load import Load
from bench.plan import Scenario
from bench.report import Row
from bench.rounds import RoundResult, Target
from tests.bench.round_results import round_result

CLOSED = Scenario(256, Load(4, 16, 1000))
FIXED = Scenario(256, Load(5, 8, 1000, rps_per_client=100))
TARGET = Target("sidecar", "127.0.0.1:1", proxy_pid=4242)
STACKS = "main (sidecar/app.py:10);Relay.start_call (sidecar/relay/relay.py:140) 4\n"


class _Runner:
    """Records the rounds asked of it; each achieves 1234.4 req/s."""

    def __init__(self) -> None:
        self.rounds: list[tuple[Scenario, int]] = []

    def run_round(self, target: Target, scenario: Scenario, index: int) -> RoundResult:
        self.rounds.append((scenario, index))
        return round_result(target.name, scenario, 1234.4, proxy_cpu_s=0.1)


def _recorder(exit_code: int) -> object:
    """A start_recording stand-in: a process that writes STACKS to the output, then exits."""

    def start(py_spy: str, pid: int, duration_s: int, output: Path) -> subprocess.Popen[str]:
        assert pid == TARGET.proxy_pid and duration_s == profiled_run.PROFILE_SECONDS
        script = f"import sys; open(sys.argv[1], 'w').write({STACKS!r}); sys.exit({exit_code})"
        return subprocess.Popen(
            [sys.executable, "-c", script, str(output)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    return start


def test_the_flags_default_to_a_file_in_the_temporary_directory() -> None:
    parser = argparse.ArgumentParser()
    profiled_run.add_profile_flags(parser, what="sample it", output_name="x-profile.txt")
    args = parser.parse_args([])
    assert args.profile is False
    assert args.profile_output == Path(tempfile.gettempdir()) / "x-profile.txt"
    assert parser.parse_args(["--profile", "--profile-output", "p.txt"]).profile_output == Path(
        "p.txt"
    )


def test_the_measured_rate_is_the_targets_under_the_scenario() -> None:
    table = [
        Row("sidecar", FIXED, requests_per_s=500.0),
        Row("other", CLOSED, requests_per_s=9000.0),
        Row("sidecar", CLOSED, requests_per_s=3000.0),
    ]
    assert profiled_run.measured_rps(table, "sidecar", CLOSED) == 3000.0
    unmeasured = [Row("sidecar", CLOSED, status="INVALID: 3 requests failed")]
    assert profiled_run.measured_rps(unmeasured, "sidecar", CLOSED) == profiled_run.FALLBACK_RPS


def test_a_profile_is_taken_under_load_that_outlasts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(profile, "start_recording", _recorder(0))
    runner = _Runner()
    output = tmp_path / "stacks.txt"
    found = profiled_run.profile_under_load(
        runner, TARGET, CLOSED, 2000.0, "the sidecar under test", output
    )
    [(scenario, index)] = runner.rounds
    seconds = profiled_run.PROFILE_SECONDS + profiled_run.LOAD_MARGIN_S
    assert index == -1 and scenario == Scenario(256, Load(4, 16, 2000 * seconds))
    assert found is not None
    assert found.startswith(
        "py-spy (`record --native --rate 200`, 10 s) sampled the sidecar under test during a"
        " closed-loop run (256 B, 4 connections x 16 streams, 1234 req/s while sampled):"
        " 4 busy samples"
    )
    assert "| `Relay.start_call (sidecar/relay/relay.py)` | 100.0 | 100.0 |" in found
    assert f"profiled sidecar: 4 samples; collapsed stacks in {output}" in capsys.readouterr().err


def test_a_failed_recording_gives_no_profile_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(profile, "start_recording", _recorder(3))
    found = profiled_run.profile_under_load(
        _Runner(), TARGET, CLOSED, 2000.0, "the sidecar", tmp_path / "stacks.txt"
    )
    assert found is None
    assert "bench: no profile: py-spy failed (3)" in capsys.readouterr().err
