"""Rows of the table: medians, pooled percentiles, ratios, and INVALID rows without figures."""

from __future__ import annotations

import pytest

from bench.footprint import Footprint
from bench.goals import evaluate
from bench.h2load import Load
from bench.plan import Plan, Scenario
from bench.report import cells, rows
from bench.rounds import RoundResult, Target
from tests.bench.round_results import round_result

CLOSED = Scenario(256, Load(4, 16, 1000))
FIXED = Scenario(256, Load(5, 8, 1000, rps_per_client=100))
PLAN = Plan("test", (CLOSED, FIXED), rounds=2, warmup=Load(1, 1, 10))
LINEUP = [Target("direct", "a:1"), Target("sidecar", "b:1", proxy_pid=2)]


def _round(
    target: str, scenario: Scenario, rps: float, latency_us: int, problems: tuple[str, ...] = ()
) -> RoundResult:
    proxy_cpu_s = 0.08 if target != "direct" else None
    return round_result(
        target, scenario, rps, latency_us=latency_us, proxy_cpu_s=proxy_cpu_s, problems=problems
    )


def _results(sidecar_problem: tuple[str, ...] = ()) -> list[RoundResult]:
    return [
        _round("direct", CLOSED, 4000, 1000),
        _round("direct", CLOSED, 5000, 1000),
        _round("sidecar", CLOSED, 3000, 1000),
        _round("sidecar", CLOSED, 3500, 1000, sidecar_problem),
        _round("direct", FIXED, 500, 1000),
        _round("sidecar", FIXED, 500, 1300),
    ]


def test_ratio_cpu_and_added_latency_against_direct() -> None:
    table = rows(PLAN, LINEUP, _results())
    closed_sidecar = table[1]
    assert closed_sidecar.requests_per_s == 3250  # median of two rounds
    assert closed_sidecar.ratio_vs_direct == pytest.approx(3250 / 4500)
    assert closed_sidecar.proxy_cpu_us == pytest.approx(80.0)  # 0.16 s over 2000 requests
    fixed_sidecar = table[3]
    assert fixed_sidecar.added_p50_ms == pytest.approx(0.3)
    assert fixed_sidecar.added_p99_ms == pytest.approx(0.3)


def test_a_row_with_an_invalid_round_shows_no_figures() -> None:
    table = rows(PLAN, LINEUP, _results(("3 of 1000 requests succeeded",)))
    row = table[1]
    assert row.status.startswith("INVALID (1/2 rounds): 3 of 1000")
    assert row.requests_per_s is None and row.ratio_vs_direct is None
    line = cells(table)[1]
    assert line[3].startswith("INVALID") and not any(c[0].isdigit() for c in line[4:] if c)
    verdicts = {v.goal: v for v in evaluate(table, Footprint())}
    ratio = next(v for goal, v in verdicts.items() if goal.startswith("req/s"))
    assert ratio.met is None and ratio.measured.startswith("INVALID")


def test_an_unavailable_target_is_reported_as_such() -> None:
    lineup = [LINEUP[0], Target("sidecar", None, unavailable="it crashed")]
    table = rows(PLAN, lineup, [r for r in _results() if r.target == "direct"])
    assert table[1].status == "UNAVAILABLE: it crashed"


def test_goals_met_and_not_met() -> None:
    table = rows(PLAN, LINEUP, _results())
    verdicts = evaluate(table, Footprint(many_tools_bytes=90_000_000, tools=100))
    by_goal = {v.goal: v.met for v in verdicts}
    assert by_goal["req/s ≥ 0.60x direct (256 B, closed loop)"] is True
    assert by_goal["p50 ≤ +0.4 ms over direct (256 B, 500/s)"] is True
    assert by_goal["RSS ≤ 80 MB with 100 tools registered"] is False
