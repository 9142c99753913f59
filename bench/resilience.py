"""The resilience benchmark: a slow and a flaky tool instance, through the sidecar with and
without its policies.

    python -m bench.resilience [--quick] [--write BENCHMARKS.md]

For each scenario (see `bench.resilience_plan`): starts two echo instances on 127.0.0.1,
one of them slow (`--latency-ms 50`) or flaky (`--fail-rate 0.5`); for each variant a
registry with the echo tool registered on both instances (with the variant's policy) and a
sidecar watching it (`--no-policies` for the baseline); drives `/echo.v1.Echo/Echo` with
h2load at a fixed rate, the variants taking turns round by round; validates every run
(every call must succeed when the scenario expects no failure, otherwise the successes are
counted from the response bytes); reads each instance's call counts around every run.
Prints a table per scenario and the goals met; `--write` puts the same into the generated
sections of a Markdown file.

Exit status: 0 when every variant ran and every run was valid (whether or not the goals were
met), 1 when a variant was unavailable or a run invalid, 2 when the benchmark could not run
at all (h2load missing, an echo instance not starting). Every process started is stopped by
its PID before exit.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import grpc

from bench import command, resilience_report, resilience_summary
from bench.background import BackgroundMeter
from bench.command import progress
from bench.descriptors import echo_file_set
from bench.echo_calls import ECHO_METHOD_NAME, ECHO_SERVICE
from bench.instances import RunningInstance, start_instances
from bench.lineup import PROBE_PAYLOAD_BYTES, READY_DEADLINE_S, one_line
from bench.machine import describe
from bench.mesh import call_timeout_s, register_tool, registry, sidecar
from bench.probe import ProbeError, wait_for_echo
from bench.processes import RunningProcess, StartError
from bench.resilience_plan import (
    DEFAULT_RESILIENCE_PLAN,
    QUICK_RESILIENCE_PLAN,
    SEED,
    ResiliencePlan,
    ResilienceScenario,
    Variant,
)
from bench.resilience_rounds import ResilienceRunner, VariantTarget
from bench.rounds import file_slug
from mesh.config import ConfigError, load_policy_yaml

REPO = Path(__file__).resolve().parent.parent
PROG = "python -m bench.resilience"


def section_name(scenario: ResilienceScenario) -> str:
    """The BENCHMARKS.md section holding a scenario's results."""
    return f"resilience-{scenario.key}"


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = command.parser(
        PROG,
        "A slow and a flaky tool instance through the sidecar, with and without "
        "its resilience policies: success rate, latency percentiles, attempts per call.",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark; returns the exit status described in the module docstring."""
    args = _arguments(sys.argv[1:] if argv is None else argv)
    plan = QUICK_RESILIENCE_PLAN if args.quick else DEFAULT_RESILIENCE_PLAN
    results = command.measured(lambda h2load_binary: _measure(plan, h2load_binary))
    if results is None:
        return command.CANNOT_RUN
    print(resilience_summary.text(results))
    if args.write is not None:
        invocation = command.invocation(PROG, args.quick)
        sections = {
            section_name(found.scenario): resilience_summary.markdown(results, found, invocation)
            for found in results.scenarios
        }
        command.write_sections(args.write, sections, generator=PROG)
    broken = any(row.status for found in results.scenarios for row in found.table)
    return 1 if broken else 0


def _measure(plan: ResiliencePlan, h2load_binary: str) -> resilience_summary.Results:
    machine = describe(None, h2load_binary)
    # Read once every process the benchmark started has been stopped and reaped: their CPU
    # time is then part of this process's children's, which the meter counts as its own.
    meter = BackgroundMeter(lambda: ())
    found: list[resilience_summary.ScenarioResults] = []
    with tempfile.TemporaryDirectory(prefix="toolmesh-resilience-") as temp:
        for scenario in plan.scenarios:
            work = Path(temp) / scenario.key
            work.mkdir()
            found.append(_scenario(plan, scenario, work, h2load_binary))
    return resilience_summary.Results(
        machine=machine, plan=plan, scenarios=found, background=meter.stop()
    )


def _scenario(
    plan: ResiliencePlan,
    scenario: ResilienceScenario,
    work: Path,
    h2load_binary: str,
) -> resilience_summary.ScenarioResults:
    """Starts the scenario's processes, runs its rounds and stops everything it started."""
    with ExitStack() as stack:
        instances = start_instances(stack, work, REPO, scenario.instances, SEED)
        for instance in instances:
            # The flaky instance may fail the probe: it is retried until one call succeeds.
            wait_for_echo(
                instance.address, PROBE_PAYLOAD_BYTES, f"echo {instance.spec.label}", 30.0
            )
        described = ", ".join(
            f"{i.spec.describe()} on {i.address} (pid {i.process.pid})" for i in instances
        )
        progress(f"{scenario.key}: instances {described}")
        targets = [_start_variant(stack, work, instances, variant) for variant in scenario.variants]
        runner = ResilienceRunner(h2load_binary, work, scenario, instances, progress)
        results = runner.run_all(targets, plan.rounds, plan.warmup_requests)
    table = resilience_report.rows(scenario, targets, results)
    return resilience_summary.ScenarioResults(scenario, table, resilience_report.verdicts(table))


def _start_variant(
    stack: ExitStack,
    work: Path,
    instances: Sequence[RunningInstance],
    variant: Variant,
) -> VariantTarget:
    """A registry holding the echo tool on every instance with the variant's policy, and a
    sidecar watching it; unavailable (with the reason) when either does not come up."""
    slug = file_slug(variant.name)
    try:
        policy = (
            load_policy_yaml(variant.policy_yaml, where=f"variant {variant.name!r}", tool="echo")
            if variant.policy_yaml
            else None
        )
        registry_process: RunningProcess = stack.enter_context(
            registry(work, REPO, name=f"registry-{slug}")
        )
        register_tool(
            registry_process.address,
            "echo",
            echo_file_set(),
            [instance.address for instance in instances],
            description="The steerable echo tool, on several instances.",
            policy=policy,
        )
        sidecar_process = stack.enter_context(
            sidecar(
                registry_process.address,
                work,
                REPO,
                policies=variant.policies,
                name=f"sidecar-{slug}",
            )
        )
        wait_for_echo(sidecar_process.address, PROBE_PAYLOAD_BYTES, variant.name, READY_DEADLINE_S)
    except ConfigError as error:
        return _unavailable(variant, f"its policy is refused: {error}")
    except (StartError, ProbeError) as error:
        return _unavailable(variant, str(error))
    except grpc.RpcError as error:
        return _unavailable(variant, f"RegisterTool failed: {error}")
    progress(f"{variant.name}: sidecar on {sidecar_process.address} (pid {sidecar_process.pid})")
    timeout = call_timeout_s(policy, ECHO_SERVICE, ECHO_METHOD_NAME) if variant.policies else None
    return VariantTarget(
        variant,
        sidecar_process.address,
        sidecar_pid=sidecar_process.pid,
        tool_timeout_s=timeout,
    )


def _unavailable(variant: Variant, reason: str) -> VariantTarget:
    progress(f"{variant.name} unavailable: {reason}")
    return VariantTarget(variant, None, unavailable=one_line(reason))


if __name__ == "__main__":
    sys.exit(main())
