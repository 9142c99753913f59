"""Profiling a sidecar under load: the `--profile` flags, and one extra closed-loop run (not
measured) during which py-spy samples the sidecar, summarized as Markdown (`bench.profile`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from bench import profile
from bench.command import progress
from bench.plan import Scenario
from bench.processes import stop
from bench.report import Row
from bench.rounds import RoundResult, Target

PROFILE_SECONDS = 10
# Requests per second assumed when the table has no figure for the profiled target.
FALLBACK_RPS = 1000.0
# Seconds of load past the recording, so every sample is taken under load.
LOAD_MARGIN_S = 3
# Seconds py-spy may take past the recording to write its output.
FINISH_MARGIN_S = 30


class RoundRunner(Protocol):
    """Runs one bounded round of `scenario` against `target` (`bench.rounds.Runner`)."""

    def run_round(self, target: Target, scenario: Scenario, index: int) -> RoundResult: ...


def add_profile_flags(parser: argparse.ArgumentParser, *, what: str, output_name: str) -> None:
    """`--profile` (its help text `what`) and `--profile-output`, whose default is the file
    `output_name` in the temporary directory."""
    parser.add_argument("--profile", action="store_true", help=what)
    parser.add_argument(
        "--profile-output",
        metavar="FILE",
        type=Path,
        default=Path(tempfile.gettempdir()) / output_name,
        help="where py-spy's collapsed stacks go (default: %(default)s)",
    )


def measured_rps(table: Sequence[Row], target: str, scenario: Scenario) -> float:
    """`target`'s measured req/s under `scenario`, or FALLBACK_RPS when there is none."""
    found = [
        row.requests_per_s
        for row in table
        if row.target == target and row.scenario == scenario and row.requests_per_s
    ]
    return found[0] if found else FALLBACK_RPS


def profile_under_load(
    runner: RoundRunner,
    target: Target,
    scenario: Scenario,
    rps: float,
    subject: str,
    output: Path,
) -> str | None:
    """Samples `target`'s proxy process with py-spy for PROFILE_SECONDS during one extra run
    of the closed-loop `scenario`, sized from `rps` (its measured req/s) to outlast the
    recording. Returns the summary as Markdown, introduced as a sample of `subject` (e.g.
    `the sidecar`); None, after saying why on stderr, when py-spy gave no profile. The
    collapsed stacks stay in `output`."""
    assert target.proxy_pid is not None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    requests = int(rps * (PROFILE_SECONDS + LOAD_MARGIN_S))
    sampled = replace(scenario, load=replace(scenario.load, requests=requests))
    recorder = profile.start_recording(py_spy, target.proxy_pid, PROFILE_SECONDS, output)
    try:
        result = runner.run_round(target, sampled, -1)
        stacks = profile.finish_recording(recorder, output, PROFILE_SECONDS + FINISH_MARGIN_S)
        found = profile.summarize(stacks)
    except profile.ProfileError as error:
        progress(f"no profile: {error}")
        return None
    finally:
        stop(recorder)
    progress(f"profiled {target.name}: {found.samples} samples; collapsed stacks in {output}")
    load = scenario.load
    context = (
        f"py-spy (`record --native --rate 200`, {PROFILE_SECONDS} s) sampled {subject}"
        f" during a closed-loop run ({scenario.payload_label}, {load.clients} connections x"
        f" {load.streams_per_client} streams, {result.requests_per_s:.0f} req/s while sampled"
        f"{'' if result.valid else ', run INVALID'}):"
    )
    return profile.markdown(found, context)
