"""The policies' cost: the sidecar with them against itself without them, and its goal."""

from __future__ import annotations

import pytest

from bench import summary
from bench.background import Background
from bench.footprint import Footprint
from bench.goals import evaluate, policy_goals
from bench.h2load import Load
from bench.machine import Machine
from bench.plan import Plan, Scenario
from bench.policy_cost import HEADERS, cells, compare
from bench.report import SIDECAR, SIDECAR_NO_POLICY, rows
from bench.rounds import RoundResult, Target
from bench.table import text_table
from tests.bench.round_results import round_result

CLOSED = Scenario(256, Load(4, 16, 1000))
FIXED = Scenario(256, Load(5, 8, 1000, rps_per_client=100))
PLAN = Plan("test", (CLOSED, FIXED), rounds=1, warmup=Load(1, 1, 10))
LINEUP = [
    Target("direct", "a:1"),
    Target(SIDECAR, "b:1", proxy_pid=2, tool_timeout_s=30.0),
    Target(SIDECAR_NO_POLICY, "c:1", proxy_pid=3),
]


def _round(
    target: str,
    scenario: Scenario,
    rps: float,
    cpu_s: float | None,
    latency_us: int = 1000,
    problems: tuple[str, ...] = (),
) -> RoundResult:
    return round_result(
        target, scenario, rps, latency_us=latency_us, proxy_cpu_s=cpu_s, problems=problems
    )


def _results(policy_rps: float, bad: tuple[str, ...] = ()) -> list[RoundResult]:
    return [
        _round("direct", CLOSED, 5000, None),
        _round(SIDECAR, CLOSED, policy_rps, 0.10, problems=bad),
        _round(SIDECAR_NO_POLICY, CLOSED, 4000, 0.08),
        _round("direct", FIXED, 500, None, 900),
        _round(SIDECAR, FIXED, 500, 0.15, 1400),
        _round(SIDECAR_NO_POLICY, FIXED, 500, 0.13, 1200),
    ]


def test_each_scenario_compares_with_and_without_policies() -> None:
    costs = compare(rows(PLAN, LINEUP, _results(3800)))
    assert [c.scenario for c in costs] == [CLOSED, FIXED]
    closed, fixed = costs
    assert closed.rps_ratio == pytest.approx(0.95)
    assert closed.cpu_us == pytest.approx(100.0) and closed.baseline_cpu_us == pytest.approx(80.0)
    assert closed.added_cpu_us == pytest.approx(20.0)
    assert fixed.rps_ratio is None  # both achieve the offered rate: no ratio
    assert fixed.p50_ms == pytest.approx(1.4) and fixed.baseline_p50_ms == pytest.approx(1.2)
    lines = cells(costs)
    assert lines[0][:5] == ["256 B", "closed", "3800", "4000", "0.95x"]
    assert lines[0][7] == "+20"
    assert lines[1][4] == "—"
    assert len(lines[0]) == len(HEADERS)


def test_an_invalid_side_leaves_the_comparison_without_figures() -> None:
    costs = compare(rows(PLAN, LINEUP, _results(3800, ("12 of 1000 requests succeeded",))))
    assert costs[0].status.startswith("INVALID (1/1 rounds): 12 of 1000")
    assert costs[0].status.endswith(f"({SIDECAR})")
    assert costs[0].rps_ratio is None
    rendered = text_table(HEADERS, cells(costs))
    assert "INVALID (1/1 rounds)" in rendered.splitlines()[2]


def test_without_the_baseline_in_the_lineup_nothing_is_compared() -> None:
    lineup = LINEUP[:2]
    table = rows(PLAN, lineup, [r for r in _results(3800) if r.target != SIDECAR_NO_POLICY])
    assert compare(table) == []
    assert policy_goals(table) == []


@pytest.mark.parametrize(("policy_rps", "met"), [(3600, True), (3599, False)])
def test_the_goal_is_at_most_ten_percent_fewer_requests_per_second(
    policy_rps: float, met: bool
) -> None:
    table = rows(PLAN, LINEUP, _results(policy_rps))
    [verdict] = policy_goals(table)
    assert verdict.goal == "req/s with policies ≥ 0.90x without (256 B, closed loop)"
    assert verdict.met is met
    assert verdict in evaluate(table, Footprint())  # among every goal of the run


def test_an_invalid_run_leaves_the_goal_unmeasured() -> None:
    table = rows(PLAN, LINEUP, _results(3800, ("h2load printed no report",)))
    [verdict] = policy_goals(table)
    assert verdict.met is None and verdict.measured.startswith("INVALID")


def test_the_markdown_section_and_the_printed_report_carry_the_comparison() -> None:
    table = rows(PLAN, LINEUP, _results(3800))
    results = summary.Results(
        machine=Machine("2026-01-01 00:00 UTC", "2", "cpu", "Linux", "3.11", "1", "n", "h"),
        plan=PLAN,
        table=table,
        policy_costs=compare(table),
        footprint=Footprint(),
        nginx_rss_bytes=None,
        verdicts=evaluate(table, Footprint()),
        policy_verdicts=policy_goals(table),
        background=Background(0.0, 10.0),
    )
    section = summary.policy_markdown(results, "python -m bench.forwarding")
    assert "| payload | mode | req/s with | req/s without | with ÷ without |" in section
    assert "| --- | --- | ---: |" in section  # names left, numbers right
    assert "| 256 B | closed | 3800 | 4000 | 0.95x | 100 | 80 | +20 |" in section
    assert "| req/s with policies ≥ 0.90x without (256 B, closed loop) | 0.95x | met |" in section
    printed = summary.text(results)
    assert "policy cost (sidecar with its default policy vs `--no-policies`):" in printed
    assert f"{SIDECAR_NO_POLICY}  256 B" in printed
