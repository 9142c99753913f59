"""Resilience rows: pooled figures per variant, instance shares, INVALID rows, the goals."""

from __future__ import annotations

import pytest

from bench.background import Background
from bench.instances import CallCounts
from bench.machine import Machine
from bench.resilience_plan import (
    DEFAULT_POLICY,
    DEFAULT_RESILIENCE_PLAN,
    FAILING_KEY,
    HEDGING,
    NO_POLICY,
    SLOW_KEY,
)
from bench.resilience_report import (
    INSTANCE_HEADERS,
    cells,
    headers,
    instance_cells,
    rows,
    verdicts,
)
from bench.resilience_rounds import ResilienceRound, VariantTarget
from bench.resilience_summary import Results, ScenarioResults, markdown, text

SLOW, FAILING = DEFAULT_RESILIENCE_PLAN.scenarios
TARGETS = [
    VariantTarget(NO_POLICY, "a:1", sidecar_pid=1),
    VariantTarget(DEFAULT_POLICY, "b:1", sidecar_pid=2, tool_timeout_s=30.0),
    VariantTarget(HEDGING, "c:1", sidecar_pid=3, tool_timeout_s=30.0),
]


def _round(
    scenario: str,
    variant: str,
    latency_ms: float,
    *,
    successes: int | None = 100,
    counts: tuple[CallCounts, CallCounts] = (CallCounts(50), CallCounts(50)),
    labels: tuple[str, str] = ("fast", "slow"),
    problems: tuple[str, ...] = (),
) -> ResilienceRound:
    return ResilienceRound(
        scenario=scenario,
        variant=variant,
        index=0,
        problems=problems,
        requests=100,
        successes=successes,
        durations_us=tuple(int(latency_ms * 1000) + i for i in range(100)),
        sidecar_cpu_s=0.02,
        instance_counts=tuple(zip(labels, counts, strict=True)),
    )


def _slow_results() -> list[ResilienceRound]:
    return [
        _round(SLOW_KEY, NO_POLICY.name, 1.0),
        _round(SLOW_KEY, NO_POLICY.name, 50.0),
        _round(SLOW_KEY, DEFAULT_POLICY.name, 1.0, counts=(CallCounts(80), CallCounts(20))),
        _round(SLOW_KEY, DEFAULT_POLICY.name, 1.0, counts=(CallCounts(70), CallCounts(30))),
        _round(
            SLOW_KEY, HEDGING.name, 11.0, counts=(CallCounts(130), CallCounts(40, cancelled=35))
        ),
        _round(
            SLOW_KEY, HEDGING.name, 11.0, counts=(CallCounts(128), CallCounts(42, cancelled=38))
        ),
    ]


def test_rounds_are_pooled_per_variant() -> None:
    table = rows(SLOW, TARGETS, _slow_results())
    assert [row.variant for row in table] == [NO_POLICY.name, DEFAULT_POLICY.name, HEDGING.name]
    no_policy, default, hedging = table
    assert no_policy.calls == 200 and no_policy.successes == 200
    assert no_policy.success_rate == 1.0
    assert no_policy.p50_ms == pytest.approx(1.099)  # the 100th of 200 pooled durations
    assert no_policy.p99_ms == pytest.approx(50.097)
    assert no_policy.sidecar_cpu_us == pytest.approx(200.0)  # 0.04 s over 200 calls
    assert default.answered_share("fast") == pytest.approx(0.75)
    assert default.answered_share("slow") == pytest.approx(0.25)
    assert hedging.attempts_per_call == pytest.approx((130 + 40 + 128 + 42) / 200)
    assert hedging.answered_share("slow") == pytest.approx(9 / 200)
    assert hedging.answered_share("nobody") is None


def test_cells_show_successes_shares_and_attempts() -> None:
    table = rows(SLOW, TARGETS, _slow_results())
    lines = cells(SLOW, table)
    assert len(lines[0]) == len(headers(SLOW))
    assert headers(SLOW)[7:9] == ("answered by fast", "answered by slow")
    assert lines[1][:3] == [DEFAULT_POLICY.name, "200", "200 (100.0%)"]
    assert lines[1][7:9] == ["75.0%", "25.0%"]
    assert lines[2][9] == "1.700"
    detail = instance_cells(table)
    assert len(detail[0]) == len(INSTANCE_HEADERS)
    assert detail[-1] == [HEDGING.name, "slow", "82", "73", "0", "9"]


def test_a_variant_with_an_invalid_round_or_no_sidecar_shows_no_figures() -> None:
    results = _slow_results()
    results[3] = _round(
        SLOW_KEY, DEFAULT_POLICY.name, 1.0, successes=None, problems=("2 requests errored",)
    )
    targets = [*TARGETS[:2], VariantTarget(HEDGING, None, unavailable="it crashed")]
    table = rows(SLOW, targets, results)
    assert table[1].status == "INVALID (1/2 rounds): 2 requests errored"
    assert table[1].success_rate is None and table[1].p99_ms is None
    assert table[2].status == "UNAVAILABLE: it crashed"
    line = cells(SLOW, table)[1]
    assert line[3].startswith("INVALID") and line[1] == ""
    [verdict] = verdicts(table)
    assert verdict.met is None and verdict.measured == "UNAVAILABLE: it crashed"


def test_goals_hedging_p99_under_the_slow_delay_and_flaky_success_rate() -> None:
    slow = verdicts(rows(SLOW, TARGETS, _slow_results()))
    assert [(v.goal, v.met) for v in slow] == [
        (f"p99 < the slow instance's 50 ms ({HEDGING.name})", True)
    ]
    failing_targets = TARGETS[:2]
    labels = ("sound", "flaky")
    failing = rows(
        FAILING,
        failing_targets,
        [
            _round(FAILING_KEY, NO_POLICY.name, 1.0, successes=75, labels=labels),
            _round(FAILING_KEY, DEFAULT_POLICY.name, 1.0, successes=99, labels=labels),
            _round(FAILING_KEY, DEFAULT_POLICY.name, 1.0, successes=100, labels=labels),
        ],
    )
    assert failing[0].success_rate == 0.75
    [verdict] = verdicts(failing)
    assert verdict.measured == "99.50%" and verdict.met is True


def _machine() -> Machine:
    return Machine("2026-01-01 00:00 UTC", "2", "cpu", "Linux", "3.11", "1.0", "none", "h2")


def test_the_markdown_section_holds_the_tables_and_verdicts() -> None:
    table = rows(SLOW, TARGETS, _slow_results())
    found = ScenarioResults(SLOW, table, verdicts(table))
    results = Results(_machine(), DEFAULT_RESILIENCE_PLAN, [found], Background(0.1, 60.0))
    section = markdown(results, found, "python -m bench.resilience")
    assert "Measured 2026-01-01 00:00 UTC by `python -m bench.resilience`" in section
    assert "fixed 200 req/s" in section
    assert "Instances: fast, slow (+50 ms)." in section
    assert f"| {DEFAULT_POLICY.name} | 200 | 200 (100.0%) |" in section
    assert "| variant | instance | received | cancelled | failed | answered |" in section
    assert f"| p99 < the slow instance's 50 ms ({HEDGING.name}) | 11.10 ms | met |" in section
    assert "nginx" not in section
    printed = text(results)
    assert "slow-instance: one of two instances answers 50 ms late" in printed
    assert results.verdicts == found.verdicts
