"""The forwarding benchmark: the same gRPC call direct, through the sidecar (with and without
its resilience policies), through nginx.

    python -m bench.forwarding [--quick] [--write BENCHMARKS.md] [--profile]

Starts an echo tool, a registry (with the echo tool registered) and two sidecars watching it
(one applying the default policy, one started with `--no-policies`) and nginx (`grpc_pass`
to the same tool), all on 127.0.0.1; drives `/echo.v1.Echo/Echo` with h2load in
interleaved rounds, closed loop and at a fixed 500 req/s, with 256 B and 16 KiB payloads;
validates every run; reads CPU time and RSS of each process from /proc; then measures the
sidecar's RSS with 100 tools registered. Prints a table, the policies' cost and the goals
met; `--write` puts the same into the generated sections of a Markdown file.

Exit status: 0 when every target ran and every run was valid (whether or not the goals
were met), 1 when a target was unavailable or a run invalid, 2 when the benchmark could
not run at all (h2load missing, echo tool not starting). Every process started is stopped
by its PID before exit.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import grpc

from bench import document, goals, policy_cost, profile, report, summary
from bench.background import BackgroundMeter
from bench.catchall import catch_all_server
from bench.footprint import EXTRA_TOOLS, Footprint, load_extra_tools
from bench.lineup import (
    PROBE_PAYLOAD_BYTES,
    READY_DEADLINE_S,
    Mesh,
    one_line,
    start_nginx,
    start_sidecars,
)
from bench.machine import describe
from bench.plan import DEFAULT_PLAN, QUICK_PLAN, Plan
from bench.probe import ProbeError, wait_for_echo
from bench.processes import RunningProcess, StartError, running, stop
from bench.procfs import ProcError, rss_bytes
from bench.rounds import Runner, Target

REPO = Path(__file__).resolve().parent.parent
ECHO_LISTENING = re.compile(r"echo listening on (?P<address>\S+)")
PROFILE_SECONDS = 10
RESULTS_SECTION = "forwarding-benchmark"
POLICY_SECTION = "policy-cost"
PROFILE_SECTION = "sidecar-profile"


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.forwarding",
        description="Direct vs sidecar (with and without policies) vs nginx: throughput, "
        "latency, CPU and memory of forwarding one gRPC call, measured with h2load.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small counts and one round: a smoke run"
    )
    parser.add_argument(
        "--write",
        metavar="FILE",
        type=Path,
        help="update the generated sections of this Markdown file (e.g. BENCHMARKS.md)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"also sample the sidecar with py-spy for {PROFILE_SECONDS}s under closed-loop load",
    )
    parser.add_argument(
        "--profile-output",
        metavar="FILE",
        type=Path,
        default=Path(tempfile.gettempdir()) / "toolmesh-sidecar-profile.txt",
        help="where py-spy's collapsed stacks go (default: %(default)s)",
    )
    parser.add_argument(
        "--upstream-connections",
        type=int,
        metavar="N",
        help="the sidecar's pooled connections per endpoint (default: the sidecar's own)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status described in the module docstring."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    h2load_binary = shutil.which("h2load")
    if h2load_binary is None:
        print(
            "bench: h2load is not on PATH; install the Debian package nghttp2-client (make apt)",
            file=sys.stderr,
        )
        return 2
    plan = QUICK_PLAN if args.quick else DEFAULT_PLAN
    try:
        results = _measure(args, plan, h2load_binary)
    except (StartError, ProbeError) as error:
        print(f"bench: cannot run: {error}", file=sys.stderr)
        return 2
    print(summary.text(results))
    if args.write is not None:
        command = "python -m bench.forwarding" + (" --quick" if args.quick else "")
        sections = {RESULTS_SECTION: summary.markdown(results, command)}
        if results.policy_costs:
            sections[POLICY_SECTION] = summary.policy_markdown(results, command)
        if results.profile_markdown is not None:
            sections[PROFILE_SECTION] = results.profile_markdown
        document.write_sections(args.write, sections)
        _progress(f"wrote the sections {', '.join(sections)} into {args.write}")
    return 1 if any(row.status for row in results.table) else 0


def _progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def _nginx_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def _measure(args: argparse.Namespace, plan: Plan, h2load_binary: str) -> summary.Results:
    nginx_binary = _nginx_binary()
    machine = describe(nginx_binary, h2load_binary)
    with tempfile.TemporaryDirectory(prefix="toolmesh-bench-") as temp, ExitStack() as stack:
        work = Path(temp)
        echo_argv = [sys.executable, "-m", "examples.tools.echo", "--listen", "127.0.0.1:0"]
        echo = stack.enter_context(
            running("echo", echo_argv, log_dir=work, listening=ECHO_LISTENING, cwd=REPO)
        )
        wait_for_echo(echo.address, PROBE_PAYLOAD_BYTES, "echo tool", READY_DEADLINE_S)
        _progress(f"echo tool on {echo.address} (pid {echo.pid})")
        mesh, plain = start_sidecars(
            stack, work, REPO, echo.address, args.upstream_connections, _progress
        )
        nginx_target = start_nginx(stack, work, nginx_binary, echo.address, _progress)
        lineup = [Target("direct", echo.address), mesh.target, plain.target, nginx_target]

        footprint = Footprint(problem=mesh.target.unavailable)
        if mesh.sidecar is not None:
            footprint = replace(footprint, idle_bytes=_rss(mesh.sidecar))
        runner = Runner(h2load_binary, work, echo.pid, _progress)
        # Each process once (the sidecar is both a server and a target's proxy).
        own_pids = {
            p.pid for p in (echo, mesh.registry, mesh.sidecar, plain.sidecar) if p is not None
        }
        own_pids |= {t.proxy_pid for t in lineup if t.proxy_pid is not None}
        meter = BackgroundMeter(lambda: own_pids)
        results = runner.run_plan(plan, lineup)
        background = meter.stop()
        _progress(f"other load on the machine during the rounds: {background.cores:.2f} cores")
        table = report.rows(plan, lineup, results)

        profile_markdown = None
        if mesh.sidecar is not None:
            footprint = replace(footprint, after_load_bytes=_rss(mesh.sidecar))
            if args.profile:
                profile_markdown = _profile(runner, plan, mesh, table, args.profile_output)
            footprint = _with_many_tools(footprint, mesh)
    nginx_rss = [r.proxy_rss_bytes for r in results if r.target == "nginx" and r.proxy_rss_bytes]
    return summary.Results(
        machine=machine,
        plan=plan,
        table=table,
        policy_costs=policy_cost.compare(table),
        footprint=footprint,
        nginx_rss_bytes=max(nginx_rss) if nginx_rss else None,
        verdicts=goals.evaluate(table, footprint),
        policy_verdicts=goals.policy_goals(table),
        background=background,
        profile_markdown=profile_markdown,
    )


def _rss(process: RunningProcess) -> int | None:
    try:
        return rss_bytes(process.pid)
    except ProcError as error:
        _progress(f"cannot read the RSS of {process.name}: {error}")
        return None


def _with_many_tools(footprint: Footprint, mesh: Mesh) -> Footprint:
    """Registers the extra tools and reads the sidecar's RSS once it has loaded them all."""
    assert mesh.registry is not None and mesh.sidecar is not None
    _progress(f"registering {EXTRA_TOOLS} more tools")
    with catch_all_server() as endpoint:
        try:
            load_extra_tools(mesh.registry.address, mesh.sidecar.address, endpoint)
        except ProbeError as error:
            return replace(footprint, problem=one_line(str(error)))
        except grpc.RpcError as error:
            return replace(footprint, problem=f"RegisterTool failed: {one_line(str(error))}")
        rss = _rss(mesh.sidecar)
    _progress(f"sidecar holds {EXTRA_TOOLS + 1} tools")
    return replace(footprint, many_tools_bytes=rss, tools=EXTRA_TOOLS + 1)


def _profile(
    runner: Runner, plan: Plan, mesh: Mesh, table: Sequence[report.Row], output: Path
) -> str | None:
    """Samples the sidecar with py-spy during one extra closed-loop run (not measured)."""
    assert mesh.sidecar is not None
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    scenario = next(s for s in plan.scenarios if s.closed_loop)
    measured = [
        row.requests_per_s
        for row in table
        if row.target == mesh.target.name and row.scenario == scenario and row.requests_per_s
    ]
    # Enough requests to outlast the recording, so every sample is taken under load.
    requests = int((measured[0] if measured else 1000.0) * (PROFILE_SECONDS + 3))
    sampled = replace(scenario, load=replace(scenario.load, requests=requests))
    recorder = profile.start_recording(py_spy, mesh.sidecar.pid, PROFILE_SECONDS, output)
    try:
        result = runner.run_round(mesh.target, sampled, -1)
        stacks = profile.finish_recording(recorder, output, PROFILE_SECONDS + 30)
        found = profile.summarize(stacks)
    except profile.ProfileError as error:
        _progress(f"no profile: {error}")
        return None
    finally:
        stop(recorder)
    _progress(f"profiled the sidecar: {found.samples} samples; collapsed stacks in {output}")
    load = scenario.load
    context = (
        f"py-spy (`record --native --rate 200`, {PROFILE_SECONDS} s) sampled the sidecar"
        f" during a closed-loop run ({scenario.payload_label}, {load.clients} connections x"
        f" {load.streams_per_client} streams, {result.requests_per_s:.0f} req/s while sampled"
        f"{'' if result.valid else ', run INVALID'}):"
    )
    return profile.markdown(found, context)


if __name__ == "__main__":
    sys.exit(main())
