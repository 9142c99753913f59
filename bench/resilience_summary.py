"""The resilience benchmark's results as people read them: a text report and one Markdown
section per scenario."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench.background import Background
from bench.machine import Machine
from bench.resilience_plan import ResiliencePlan, ResilienceScenario
from bench.resilience_report import (
    INSTANCE_HEADERS,
    VariantRow,
    cells,
    headers,
    instance_cells,
)
from bench.table import markdown_table, text_table
from bench.verdict import Verdict, markdown_rows


@dataclass(frozen=True, slots=True)
class ScenarioResults:
    """One scenario's rows (a variant each) and the goals judged on them."""

    scenario: ResilienceScenario
    table: Sequence[VariantRow]
    verdicts: Sequence[Verdict]


@dataclass(frozen=True, slots=True)
class Results:
    """Everything one resilience run found."""

    machine: Machine
    plan: ResiliencePlan
    scenarios: Sequence[ScenarioResults]
    background: Background

    @property
    def verdicts(self) -> list[Verdict]:
        return [verdict for found in self.scenarios for verdict in found.verdicts]


COLUMNS = (
    "calls: requests sent over the rounds; succeeded: calls that returned their answer,"
    " counted from the response DATA bytes (a failed call is an HTTP 200 without a message)."
    " p50…max: latency of every call as h2load logged it, failed calls included, pooled over"
    " the rounds. answered by X: share of calls whose answer instance X produced (attempts it"
    " neither failed nor saw cancelled, from its own counts). attempts/call: attempts all"
    " instances received ÷ calls (retries and hedges make it exceed 1). sidecar CPU:"
    " user+system time of the variant's sidecar ÷ calls."
)


def load_text(plan: ResiliencePlan) -> str:
    """One sentence describing the load every scenario applies."""
    load = plan.scenarios[0].load
    payload = plan.scenarios[0].payload_bytes
    return (
        f"{plan.name} plan: /echo.v1.Echo/Echo with a {payload} B payload at a fixed"
        f" {load.offered_rps} req/s ({load.clients} connections x {load.rps_per_client} req/s,"
        f" up to {load.streams_per_client} streams each), {load.requests} requests per round,"
        f" {plan.rounds} round(s) per variant with the variants interleaved, after a warm-up"
        f" of {plan.warmup_requests} requests per variant"
    )


def machine_text(machine: Machine) -> str:
    # nginx plays no part here.
    return machine.facts(leave_out=("nginx",))


def text(results: Results) -> str:
    """The report printed at the end of a run."""
    out = [
        "",
        f"toolmesh resilience benchmark — {machine_text(results.machine)}",
        load_text(results.plan),
        results.background.sentence(),
    ]
    for found in results.scenarios:
        scenario = found.scenario
        out += ["", f"{scenario.key}: {scenario.title}"]
        out.append(text_table(headers(scenario), cells(scenario, found.table), left=1))
        detail = instance_cells(found.table)
        if detail:
            out += ["", text_table(INSTANCE_HEADERS, detail, left=2)]
        for verdict in found.verdicts:
            out.append(f"goal: {verdict.goal}: {verdict.measured} — {verdict.label}")
    return "\n".join(out)


def markdown(results: Results, found: ScenarioResults, command: str) -> str:
    """The generated section of one scenario."""
    scenario = found.scenario
    instances = ", ".join(spec.describe() for spec in scenario.instances)
    out = [
        f"Measured {results.machine.date} by `{command}` ({load_text(results.plan)}).",
        f"Instances: {instances}. Machine: {machine_text(results.machine)}.",
        f"{results.background.sentence()}.",
        "",
        markdown_table(headers(scenario), cells(scenario, found.table), left=1),
        "",
        COLUMNS,
        "",
        "What each instance saw (attempts, over the same rounds):",
        "",
        markdown_table(INSTANCE_HEADERS, instance_cells(found.table), left=2),
    ]
    if found.verdicts:
        out += ["", *markdown_rows(found.verdicts)]
    return "\n".join(out)
