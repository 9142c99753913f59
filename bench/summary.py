"""The benchmark's results as people read them: a text report and the Markdown sections."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bench import policy_cost, report
from bench.background import Background
from bench.footprint import EXTRA_TOOLS, Footprint
from bench.machine import Machine
from bench.plan import Plan
from bench.table import markdown_table, text_table
from bench.verdict import Verdict, markdown_rows


@dataclass(frozen=True, slots=True)
class Results:
    """Everything one benchmark run found."""

    machine: Machine
    plan: Plan
    table: Sequence[report.Row]
    policy_costs: Sequence[policy_cost.PolicyCost]
    footprint: Footprint
    nginx_rss_bytes: int | None
    verdicts: Sequence[Verdict]
    policy_verdicts: Sequence[Verdict]  # the policy-cost goals (also among `verdicts`)
    background: Background
    profile_markdown: str | None = None  # the py-spy summary, when profiled


COLUMNS = (
    "req/s: median of the rounds, then the slowest and fastest round. x direct: against"
    " direct in the same run (closed loop only). p50/p99: over every request of every round,"
    " from h2load's per-request log; +p50/+p99: over direct (fixed rate only). proxy CPU:"
    " user+system time of the sidecar or nginx process over the rounds ÷ requests; tool CPU:"
    " the same for the echo tool. proxy reads/writes: read-like and write-like system calls"
    " (syscr, syscw of /proc/PID/io) ÷ requests; uvloop does all the sidecar's socket I/O"
    " with such calls; nginx reads with recv(), which is not counted there, so only its"
    " writes are shown. proxy RSS: VmRSS after a round."
)


POLICY_COLUMNS = (
    "with ÷ without: the medians' ratio (closed loop only; at a fixed rate both achieve the"
    " offered rate). CPU µs/call: sidecar user+system time ÷ calls; +CPU: with minus without."
    " p50/p99: over every request of every round."
)


def plan_text(plan: Plan) -> str:
    """One sentence describing the load the plan applies."""
    closed = next(s for s in plan.scenarios if s.closed_loop).load
    fixed = next(s for s in plan.scenarios if not s.closed_loop).load
    payloads = " and ".join(
        dict.fromkeys(
            s.payload_label for s in sorted(plan.scenarios, key=lambda s: s.payload_bytes)
        )
    )
    return (
        f"{plan.name} plan: payloads {payloads}; closed loop {closed.clients} connections x "
        f"{closed.streams_per_client} streams, {closed.requests} requests per round; fixed rate "
        f"{fixed.clients} connections x {fixed.rps_per_client} req/s = {fixed.offered_rps} req/s, "
        f"{fixed.requests} requests per round; {plan.rounds} round(s) per scenario, targets "
        f"interleaved; warm-up {plan.warmup.requests} requests per target and payload"
    )


def _mb(value: int | None) -> str:
    return "—" if value is None else f"{value / 1e6:.1f} MB"


def footprint_lines(footprint: Footprint, nginx_rss_bytes: int | None) -> list[str]:
    """The memory figures, one line each."""
    tools = EXTRA_TOOLS + 1
    many = _mb(footprint.many_tools_bytes)
    if footprint.problem:
        many += f" (not measured: {footprint.problem})"
    return [
        f"sidecar RSS idle (1 tool, before load): {_mb(footprint.idle_bytes)}",
        f"sidecar RSS after all rounds: {_mb(footprint.after_load_bytes)}",
        f"sidecar RSS with {tools} tools registered (after all rounds): {many}",
        f"nginx RSS after its rounds: {_mb(nginx_rss_bytes)}",
    ]


def _met_line(verdicts: Sequence[Verdict]) -> str:
    met = sum(1 for v in verdicts if v.met)
    unmeasured = sum(1 for v in verdicts if v.met is None)
    tail = f", {unmeasured} not measured" if unmeasured else ""
    return f"{met} of {len(verdicts)} goals met{tail}"


def text(results: Results) -> str:
    """The report printed at the end of a run."""
    out = [
        "",
        f"toolmesh forwarding benchmark — {results.machine.facts()}",
        plan_text(results.plan),
        results.background.sentence(),
        "",
    ]
    out.append(text_table(report.HEADERS, report.cells(results.table)))
    if results.policy_costs:
        out += ["", "policy cost (sidecar with its default policy vs `--no-policies`):"]
        out.append(text_table(policy_cost.HEADERS, policy_cost.cells(results.policy_costs), left=2))
    out += ["", *footprint_lines(results.footprint, results.nginx_rss_bytes), "", "goals:"]
    width = max((len(v.goal) for v in results.verdicts), default=0)
    out += [f"  {v.goal.ljust(width)}  {v.measured:>12}  {v.label}" for v in results.verdicts]
    out.append(f"  {_met_line(results.verdicts)}")
    return "\n".join(out)


def policy_markdown(results: Results, command: str) -> str:
    """The generated policy-cost section of BENCHMARKS.md."""
    out = [
        f"Measured {results.machine.date} by `{command}`, from the rounds of the forwarding"
        f" results above ({results.plan.rounds} round(s) per scenario, targets"
        " interleaved): the sidecar applying its default policy (`with`) against the same"
        " relay started with `--no-policies` (`without`).",
        "",
        markdown_table(policy_cost.HEADERS, policy_cost.cells(results.policy_costs), left=2),
        "",
        POLICY_COLUMNS,
        "",
        *markdown_rows(results.policy_verdicts),
    ]
    return "\n".join(out)


def markdown(results: Results, command: str) -> str:
    """The generated results section of BENCHMARKS.md."""
    machine = results.machine
    out = [
        f"Measured {machine.date} by `{command}` ({plan_text(results.plan)}).",
        f"{results.background.sentence()}.",
        "",
        "| machine | |",
        "| --- | --- |",
        *(f"| {key} | {value} |" for key, value in machine.lines()),
        "",
        markdown_table(report.HEADERS, report.cells(results.table)),
        "",
        COLUMNS,
        "",
        *(f"- {line}" for line in footprint_lines(results.footprint, results.nginx_rss_bytes)),
        "",
        *markdown_rows(results.verdicts),
        "",
        f"{_met_line(results.verdicts)}.",
    ]
    return "\n".join(out)
