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
import shutil
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import grpc

from bench import command, goals, policy_cost, report, summary
from bench.background import BackgroundMeter
from bench.catchall import catch_all_server
from bench.command import progress
from bench.echo_tool import start_echo
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
from bench.processes import RunningProcess
from bench.procfs import ProcError, rss_bytes
from bench.profiled_run import PROFILE_SECONDS, add_profile_flags, measured_rps, profile_under_load
from bench.rounds import Runner, Target

REPO = Path(__file__).resolve().parent.parent
PROG = "python -m bench.forwarding"
RESULTS_SECTION = "forwarding-benchmark"
POLICY_SECTION = "policy-cost"
PROFILE_SECTION = "sidecar-profile"


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = command.parser(
        PROG,
        "Direct vs sidecar (with and without policies) vs nginx: throughput, "
        "latency, CPU and memory of forwarding one gRPC call, measured with h2load.",
    )
    add_profile_flags(
        parser,
        what=f"also sample the sidecar with py-spy for {PROFILE_SECONDS}s under closed-loop load",
        output_name="toolmesh-sidecar-profile.txt",
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
    plan = QUICK_PLAN if args.quick else DEFAULT_PLAN
    results = command.measured(lambda h2load_binary: _measure(args, plan, h2load_binary))
    if results is None:
        return command.CANNOT_RUN
    print(summary.text(results))
    if args.write is not None:
        invocation = command.invocation(PROG, args.quick)
        sections = {RESULTS_SECTION: summary.markdown(results, invocation)}
        if results.policy_costs:
            sections[POLICY_SECTION] = summary.policy_markdown(results, invocation)
        if results.profile_markdown is not None:
            sections[PROFILE_SECTION] = results.profile_markdown
        command.write_sections(args.write, sections, generator=PROG)
    return 1 if any(row.status for row in results.table) else 0


def _nginx_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    found = shutil.which("nginx")
    return found or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def _measure(args: argparse.Namespace, plan: Plan, h2load_binary: str) -> summary.Results:
    nginx_binary = _nginx_binary()
    machine = describe(nginx_binary, h2load_binary)
    with tempfile.TemporaryDirectory(prefix="toolmesh-bench-") as temp, ExitStack() as stack:
        work = Path(temp)
        echo = start_echo(stack, work, REPO)
        wait_for_echo(echo.address, PROBE_PAYLOAD_BYTES, "echo tool", READY_DEADLINE_S)
        progress(f"echo tool on {echo.address} (pid {echo.pid})")
        mesh, plain = start_sidecars(
            stack, work, REPO, echo.address, args.upstream_connections, progress
        )
        nginx_target = start_nginx(stack, work, nginx_binary, echo.address, progress)
        lineup = [Target("direct", echo.address), mesh.target, plain.target, nginx_target]

        footprint = Footprint(problem=mesh.target.unavailable)
        if mesh.sidecar is not None:
            footprint = replace(footprint, idle_bytes=_rss(mesh.sidecar))
        runner = Runner(h2load_binary, work, echo.pid, progress)
        # Each process once (the sidecar is both a server and a target's proxy).
        own_pids = {
            p.pid for p in (echo, mesh.registry, mesh.sidecar, plain.sidecar) if p is not None
        }
        own_pids |= {t.proxy_pid for t in lineup if t.proxy_pid is not None}
        meter = BackgroundMeter(lambda: own_pids)
        results = runner.run_plan(plan, lineup)
        background = meter.stop()
        progress(f"other load on the machine during the rounds: {background.cores:.2f} cores")
        table = report.rows(plan, lineup, results)

        profile_markdown = None
        if mesh.sidecar is not None:
            footprint = replace(footprint, after_load_bytes=_rss(mesh.sidecar))
            if args.profile:
                profile_markdown = _profile(runner, plan, mesh.target, table, args.profile_output)
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
        progress(f"cannot read the RSS of {process.name}: {error}")
        return None


def _with_many_tools(footprint: Footprint, mesh: Mesh) -> Footprint:
    """Registers the extra tools and reads the sidecar's RSS once it has loaded them all."""
    assert mesh.registry is not None and mesh.sidecar is not None
    progress(f"registering {EXTRA_TOOLS} more tools")
    with catch_all_server() as endpoint:
        try:
            load_extra_tools(mesh.registry.address, mesh.sidecar.address, endpoint)
        except ProbeError as error:
            return replace(footprint, problem=one_line(str(error)))
        except grpc.RpcError as error:
            return replace(footprint, problem=f"RegisterTool failed: {one_line(str(error))}")
        rss = _rss(mesh.sidecar)
    progress(f"sidecar holds {EXTRA_TOOLS + 1} tools")
    return replace(footprint, many_tools_bytes=rss, tools=EXTRA_TOOLS + 1)


def _profile(
    runner: Runner, plan: Plan, target: Target, table: Sequence[report.Row], output: Path
) -> str | None:
    """Samples the sidecar with py-spy during one extra closed-loop run (not measured)."""
    scenario = next(s for s in plan.scenarios if s.closed_loop)
    rps = measured_rps(table, target.name, scenario)
    return profile_under_load(runner, target, scenario, rps, "the sidecar", output)


if __name__ == "__main__":
    sys.exit(main())
