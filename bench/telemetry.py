"""The telemetry benchmark: the sidecar with telemetry off, with metrics only, and with
metrics and tracing sampled at 1 % and at 100 %, side by side.

    python -m bench.telemetry [--quick] [--write BENCHMARKS.md] [--profile]

Starts an echo tool, a registry (the echo tool registered, default policy), an OTLP/gRPC
sink (`bench.otlp_sink`) and four sidecars watching the registry, each with its own
environment since `OTEL_*` are read at start: `--no-telemetry`; no OTEL endpoint (metrics
only); `OTEL_TRACES_SAMPLER=parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG=0.01`
(the production default); and `always_on`; the traced ones export to the sink. Drives
`/echo.v1.Echo/Echo` (256 B) with h2load closed loop in interleaved rounds, validates every
run, reads each sidecar's CPU time from /proc, and counts the spans each traced sidecar
exported. Prints a table and the issue's targets; `--write` puts them into a generated
section of a Markdown file. `--profile` also samples the 100 % traced sidecar with py-spy
during one extra (unmeasured) run, its export thread included.

Exit status: 0 when every variant ran and every run was valid (whether or not the goals
were met), 1 when a variant was unavailable, a run invalid or a traced variant exported
nothing, 2 when the benchmark could not run at all. Every process started is stopped by
its PID before exit.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench import command, report, telemetry_cost
from bench.command import progress
from bench.descriptors import echo_file_set
from bench.echo_calls import ECHO_METHOD_NAME, ECHO_SERVICE
from bench.echo_tool import start_echo
from bench.h2load import Load
from bench.lineup import PROBE_PAYLOAD_BYTES, READY_DEADLINE_S, one_line
from bench.machine import Machine, describe
from bench.mesh import call_timeout_s, register_tool, registry, sidecar
from bench.plan import Plan, Scenario
from bench.probe import ProbeError, wait_for_echo
from bench.processes import RunningProcess, StartError, running
from bench.profiled_run import PROFILE_SECONDS, add_profile_flags, measured_rps, profile_under_load
from bench.rounds import Runner, Target, file_slug

REPO = Path(__file__).resolve().parent.parent
PROG = "python -m bench.telemetry"
SINK_LISTENING = re.compile(r"otlp sink listening on (?P<address>\S+)")
SPANS_LINE = re.compile(r"^spans (?P<service>\S+) (?P<total>\d+)$")
PAYLOAD_BYTES = 256
SECTION = "telemetry-cost"
PROFILE_SECTION = "telemetry-profile"
TRACED_SIDECAR = "the sidecar with metrics and 100 % tracing"  # what --profile samples
EXPORT_SETTLE_S = 10.0  # how long to wait for the last batches to reach the sink
CLOSED = Load(clients=4, streams_per_client=16, requests=20_000)

DEFAULT_PLAN = Plan(
    name="default",
    scenarios=(Scenario(PAYLOAD_BYTES, CLOSED),),
    rounds=5,
    warmup=Load(clients=4, streams_per_client=16, requests=3_000),
)
QUICK_PLAN = Plan(
    name="quick",
    scenarios=(Scenario(PAYLOAD_BYTES, Load(clients=4, streams_per_client=16, requests=2_000)),),
    rounds=1,
    warmup=Load(clients=4, streams_per_client=16, requests=200),
)

# The sampler of each traced variant (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG).
SAMPLERS = {
    telemetry_cost.TRACING_1: ("parentbased_traceidratio", "0.01"),
    telemetry_cost.TRACING_100: ("parentbased_always_on", ""),
}


def variant_environment(
    base: Mapping[str, str], variant: str, sink_endpoint: str | None
) -> dict[str, str]:
    """The environment of `variant`'s sidecar: `base` without any OTEL_* variable, plus, for
    a traced variant, the sink endpoint, its sampler and a service name naming the variant
    (so the sink counts each variant's spans apart)."""
    env = {key: value for key, value in base.items() if not key.startswith("OTEL_")}
    sampler = SAMPLERS.get(variant)
    if sampler is None or sink_endpoint is None:
        return env
    env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://{sink_endpoint}"
    env["OTEL_TRACES_SAMPLER"] = sampler[0]
    if sampler[1]:
        env["OTEL_TRACES_SAMPLER_ARG"] = sampler[1]
    env["OTEL_SERVICE_NAME"] = service_name(variant)
    return env


def service_name(variant: str) -> str:
    return "bench-" + file_slug(variant).replace(".", "")


def spans_seen(lines: Sequence[str]) -> dict[str, int]:
    """The last running total of spans per service in the sink's output `lines`."""
    totals: dict[str, int] = {}
    for line in lines:
        match = SPANS_LINE.match(line)
        if match is not None:
            totals[match["service"]] = int(match["total"])
    return totals


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = command.parser(
        PROG, "What metrics and tracing cost the sidecar, against telemetry off."
    )
    add_profile_flags(
        parser,
        what=f"also sample the 100 %% traced sidecar with py-spy for {PROFILE_SECONDS}s",
        output_name="toolmesh-telemetry-profile.txt",
    )
    return parser.parse_args(argv)


@dataclass(frozen=True, slots=True)
class _Measured:
    """What one run found: the comparisons, the table behind them, the profile section (when
    profiled) and the machine, described once the rounds are over."""

    costs: list[telemetry_cost.TelemetryCost]
    table: list[report.Row]
    profiled: str | None
    machine: Machine


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status described in the module docstring."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    plan = QUICK_PLAN if args.quick else DEFAULT_PLAN
    found = command.measured(lambda h2load_binary: _measure(plan, h2load_binary, args))
    if found is None:
        return command.CANNOT_RUN
    costs = found.costs
    print(telemetry_cost.text(costs))
    if args.write is not None:
        invocation = command.invocation(PROG, args.quick)
        context = _context(plan, found.machine, invocation)
        sections = {SECTION: telemetry_cost.markdown(costs, context)}
        if found.profiled is not None:
            sections[PROFILE_SECTION] = found.profiled
        # Unlike the other benchmarks', these markers name the command with its --quick.
        command.write_sections(args.write, sections, generator=invocation)
    unexported = any(c.spans is not None and c.spans <= 0 for c in costs) or any(
        c.variant in SAMPLERS and c.spans is None and not c.status for c in costs
    )
    return 1 if any(row.status for row in found.table) or unexported else 0


def _context(plan: Plan, machine: Machine, invocation: str) -> str:
    load = plan.scenarios[0].load
    # nginx plays no part here.
    return (
        f"{machine.facts(leave_out=('nginx',))}. `{invocation}`: {plan.rounds} interleaved"
        f" round(s) of {load.requests:,} calls per variant, {PAYLOAD_BYTES} B unary Echo,"
        f" closed loop ({load.clients} connections x {load.streams_per_client} streams),"
        " default policy."
    )


def _measure(plan: Plan, h2load_binary: str, args: argparse.Namespace) -> _Measured:
    with (
        tempfile.TemporaryDirectory(prefix="toolmesh-bench-telemetry-") as temp,
        ExitStack() as stack,
    ):
        work = Path(temp)
        echo = start_echo(stack, work, REPO)
        wait_for_echo(echo.address, PROBE_PAYLOAD_BYTES, "echo tool", READY_DEADLINE_S)
        sink = stack.enter_context(
            running(
                "otlp-sink",
                [sys.executable, "-m", "bench.otlp_sink"],
                log_dir=work,
                listening=SINK_LISTENING,
                cwd=REPO,
            )
        )
        progress(f"echo tool on {echo.address}, OTLP sink on {sink.address}")
        registry_process = stack.enter_context(registry(work, REPO))
        register_tool(registry_process.address, "echo", echo_file_set(), echo.address)
        timeout = call_timeout_s(None, ECHO_SERVICE, ECHO_METHOD_NAME)
        targets = [
            _start(stack, work, registry_process, variant, sink.address, timeout)
            for variant in telemetry_cost.VARIANTS
        ]
        runner = Runner(h2load_binary, work, echo.pid, progress)
        results = runner.run_plan(plan, targets)
        table = report.rows(plan, targets, results)
        spans = _wait_for_spans(sink, targets)
        profiled = None
        if args.profile:
            traced = next(t for t in targets if t.name == telemetry_cost.TRACING_100)
            if traced.proxy_pid is not None:
                profiled = _profile(runner, plan, traced, table, args.profile_output)
    machine = describe(None, h2load_binary)
    return _Measured(telemetry_cost.compare(table, spans), table, profiled, machine)


def _profile(
    runner: Runner, plan: Plan, target: Target, table: Sequence[report.Row], output: Path
) -> str | None:
    """Samples `target`'s sidecar with py-spy during one extra closed-loop run (not measured)."""
    scenario = plan.scenarios[0]
    rps = measured_rps(table, target.name, scenario)
    return profile_under_load(runner, target, scenario, rps, TRACED_SIDECAR, output)


def _start(
    stack: ExitStack,
    work: Path,
    registry_process: RunningProcess,
    variant: str,
    sink_address: str,
    tool_timeout_s: float | None,
) -> Target:
    """One sidecar for `variant`, ready once an Echo call through it succeeds; unavailable
    (with the reason) when it cannot start."""
    try:
        process = stack.enter_context(
            sidecar(
                registry_process.address,
                work,
                REPO,
                telemetry=variant != telemetry_cost.OFF,
                name=file_slug(variant),
                env=variant_environment(os.environ, variant, sink_address),
            )
        )
        wait_for_echo(process.address, PROBE_PAYLOAD_BYTES, variant, READY_DEADLINE_S)
    except (StartError, ProbeError) as error:
        progress(f"{variant} unavailable: {error}")
        return Target(variant, None, unavailable=one_line(str(error)))
    progress(f"{variant} on {process.address} (pid {process.pid})")
    return Target(variant, process.address, proxy_pid=process.pid, tool_timeout_s=tool_timeout_s)


def _wait_for_spans(sink: RunningProcess, targets: Sequence[Target]) -> dict[str, int]:
    """Spans received per traced variant, once the counts stop moving (the sidecars export
    in batches, the last one after their schedule delay) or after EXPORT_SETTLE_S."""
    deadline = time.monotonic() + EXPORT_SETTLE_S
    last: dict[str, int] = {}
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        now = spans_seen(list(sink.stdout_lines))
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 6.0:  # longer than the 5 s schedule delay
            break
        time.sleep(0.2)
    return {
        target.name: last.get(service_name(target.name), 0)
        for target in targets
        if target.name in SAMPLERS and target.address is not None
    }


if __name__ == "__main__":
    sys.exit(main())
