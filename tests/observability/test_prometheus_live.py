"""Every dashboard query, template variable and recording rule, through a real Prometheus.

Each Prometheus target of the committed dashboard JSON is evaluated with its variables set
(`$tool` to every tool, or the drill-down's tool), and must return series carrying the
labels its legend names. The p99 Prometheus computes for a tool must fall in the bucket that
holds the p99 of the durations the load itself measured.
"""

from __future__ import annotations

import json
import math
import re
import time
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

import pytest

from mesh.telemetry.metrics import DURATION_BUCKETS_S
from tests.observability.conftest import DASHBOARDS_DIR, Live, recording_rules
from tests.observability.prometheus_server import poll

WINDOW = "5m"  # what $__rate_interval and $__range stand for: the whole test fits in it
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
BY_LABELS = re.compile(r"\bby \(([^)]*)\)")


@dataclass(frozen=True)
class Target:
    dashboard: str
    panel: str
    ref_id: str
    expr: str
    legend: str

    @property
    def id(self) -> str:
        return f"{self.dashboard}:{self.panel}:{self.ref_id}"


def dashboards() -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text()) for path in sorted(DASHBOARDS_DIR.glob("*.json"))
    }


def prometheus_targets() -> list[Target]:
    targets = []
    for name, board in dashboards().items():
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                if target.get("datasource", {}).get("type") != "prometheus":
                    continue
                targets.append(
                    Target(
                        name,
                        panel["title"],
                        target["refId"],
                        target["expr"],
                        target.get("legendFormat", ""),
                    )
                )
    return targets


def query_variables() -> list[tuple[str, dict[str, Any]]]:
    return [
        (name, variable)
        for name, board in dashboards().items()
        for variable in board["templating"]["list"]
        if variable["type"] == "query"
    ]


def substitute(text: str, dashboard: str, live: Live) -> str:
    """The dashboard's variables as Grafana would fill them: "All" is `.*`, except the
    drill-down's single tool."""
    tool = live.source.drilldown_tool if dashboard == "toolmesh-tool" else ".*"
    values = {
        "__rate_interval": WINDOW,
        "__range": WINDOW,
        "tool": tool,
        "method": ".*",
        "endpoint": ".*",
    }
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value).replace(f"${name}", value)
    assert "$" not in text, f"unknown variable left in {text!r}"
    return text


TARGETS = prometheus_targets()


def test_there_are_panels_to_check() -> None:
    boards = {target.dashboard for target in TARGETS}
    assert boards == {"toolmesh-overview", "toolmesh-tool", "toolmesh-endpoints"}
    assert len(TARGETS) >= 40


@pytest.mark.parametrize("target", TARGETS, ids=[target.id for target in TARGETS])
def test_every_panel_query_returns_series_with_its_legend_labels(
    live: Live, target: Target
) -> None:
    expr = substitute(target.expr, target.dashboard, live)
    result = live.prometheus.query(expr)
    assert result, f"{target.id}: no series for {expr}"
    for label in LEGEND_LABEL.findall(target.legend):
        missing = [series["metric"] for series in result if label not in series["metric"]]
        assert not missing, f"{target.id}: series without {label!r}: {missing}"


VARIABLES = query_variables()


@pytest.mark.parametrize(
    ("dashboard", "variable"),
    VARIABLES,
    ids=[f"{name}:{variable['name']}" for name, variable in VARIABLES],
)
def test_every_template_variable_lists_values(
    live: Live, dashboard: str, variable: dict[str, Any]
) -> None:
    match = re.fullmatch(r"label_values\((.+), (\w+)\)", variable["query"])
    assert match, f"{dashboard}: ${variable['name']}: not a label_values() query"
    series, label = match.groups()
    values = live.prometheus.api(
        f"label/{label}/values", **{"match[]": substitute(series, dashboard, live)}
    )
    assert values, f"{dashboard}: ${variable['name']} lists nothing"
    if label == "tool":
        assert live.source.drilldown_tool in values


RULES = recording_rules()


@pytest.mark.parametrize("rule", RULES, ids=[rule["record"] for rule in RULES])
def test_every_recording_rule_produces_series_with_its_labels(
    live: Live, rule: dict[str, str]
) -> None:
    result = live.prometheus.query(rule["record"])
    assert result, f"{rule['record']}: no series"
    expected = {
        label.strip()
        for group in BY_LABELS.findall(rule["expr"])
        for label in group.split(",")
        if label.strip() != "le"
    }
    for series in result:
        assert expected <= set(series["metric"]), (rule["record"], series["metric"])


def test_alert_rules_evaluate_without_errors(live: Live) -> None:
    groups = live.prometheus.api("rules")["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    alerts = [rule for rule in rules if rule["type"] == "alerting"]
    assert len(alerts) == 6
    assert all(rule["health"] == "ok" for rule in rules), [
        (rule["name"], rule.get("lastError")) for rule in rules if rule["health"] != "ok"
    ]


def test_the_load_makes_the_expected_alerts_fire(live: Live) -> None:
    def firing() -> set[str] | None:
        alerts = live.prometheus.api("alerts")["alerts"]
        names = {alert["labels"]["alertname"] for alert in alerts if alert["state"] == "firing"}
        return names if live.source.firing_alerts <= names else None

    names = poll("the expected alerts to fire", firing, 10)
    assert "ToolmeshRegistryUnreachable" not in names


def observed_p99(durations: list[float]) -> float:
    """The 99th percentile of the measurements (nearest rank)."""
    ordered = sorted(durations)
    return ordered[math.ceil(0.99 * len(ordered)) - 1]


def bucket_of(seconds: float) -> tuple[float, float]:
    """The (lower, upper] bounds of the histogram bucket holding `seconds`."""
    index = bisect_left(DURATION_BUCKETS_S, seconds)
    lower = DURATION_BUCKETS_S[index - 1] if index > 0 else 0.0
    upper = DURATION_BUCKETS_S[index] if index < len(DURATION_BUCKETS_S) else math.inf
    return lower, upper


def test_prometheus_p99_agrees_with_the_loads_p99_within_a_bucket(live: Live) -> None:
    tool = live.source.quantile_tool
    expected = observed_p99(live.report.ok_durations[tool])
    lower, upper = bucket_of(expected)
    overview_p99 = next(
        target
        for target in TARGETS
        if target.dashboard == "toolmesh-overview" and target.legend == "{{tool}} p99"
    )
    expr = substitute(overview_p99.expr, "toolmesh-overview", live)
    by_tool = {s["metric"]["tool"]: float(s["value"][1]) for s in live.prometheus.query(expr)}
    assert lower <= by_tool[tool] <= upper, (expected, by_tool[tool], (lower, upper))

    # The recording rule agrees too, once it has evaluated the load's end state.
    record = f'tool:toolmesh_call_duration_seconds:p99_5m{{tool="{tool}"}}'

    def recorded() -> float | None:
        samples = live.prometheus.query(record)
        value = float(samples[0]["value"][1]) if samples else math.nan
        return value if lower <= value <= upper else None

    assert lower <= poll("the recorded p99 to reach the load's bucket", recorded, 5) <= upper


def test_exemplars_reach_prometheus_with_the_calls_trace_ids(live: Live) -> None:
    tool = live.source.quantile_tool
    now = time.time()
    data = live.prometheus.api(
        "query_exemplars",
        query=f'toolmesh_call_duration_seconds_bucket{{tool="{tool}"}}',
        start=str(now - 300),
        end=str(now + 60),
    )
    trace_ids = {
        exemplar["labels"]["trace_id"] for series in data for exemplar in series["exemplars"]
    }
    assert trace_ids, "no exemplar stored (is OpenMetrics negotiated?)"
    assert trace_ids <= set(live.report.trace_ids)


def test_first_events_are_increases_prometheus_can_see(live: Live) -> None:
    """Each series the load increases was scraped at 0 before its first event, so
    `increase()` over the load counts that first event (a series born at 1 would hide it)."""
    for selector in live.source.declared_series:
        lowest = live.prometheus.query(f"min(min_over_time({selector}[10m]))")
        highest = live.prometheus.query(f"max(max_over_time({selector}[10m]))")
        assert lowest and highest, f"{selector}: no series"
        assert float(lowest[0]["value"][1]) == 0, f"{selector}: never scraped at 0"
        assert float(highest[0]["value"][1]) > 0, f"{selector}: the load did not increase it"
        increase = live.prometheus.query(f"sum(increase({selector}[10m]))")
        assert increase and float(increase[0]["value"][1]) > 0, selector
