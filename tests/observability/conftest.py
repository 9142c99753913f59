"""A real Prometheus scraping a mesh's metrics endpoints under a bounded load.

`metrics_source` yields the scrape targets and a `drive()` that runs the load and reports
what the load client saw, once for a live mesh (live_mesh.py) and once for the metrics API
fed with known observations (feed.py); every test using `live` runs against both.
`live` starts Prometheus with the repository's rule files, waits for the first scrape of
every target, runs the load, and waits until Prometheus has scraped its end state and the
recording rules have evaluated it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.observability import live_mesh
from tests.observability.feed import ALPHA, BETA, FedMesh, LoadReport, MetricsSource
from tests.observability.live_mesh import LiveMesh
from tests.observability.prometheus_server import Prometheus, poll

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "deploy" / "prometheus"
RULE_FILES = (RULES_DIR / "recording.rules.yml", RULES_DIR / "alerts.rules.yml")
DASHBOARDS_DIR = REPO / "grafana" / "dashboards"


@dataclass
class Live:
    prometheus: Prometheus
    source: MetricsSource
    report: LoadReport


def recording_rules() -> list[dict[str, str]]:
    """Every recording rule of the repository's rule files."""
    rules: list[dict[str, str]] = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules.extend(rule for rule in group["rules"] if "record" in rule)
    return rules


def fed_source() -> Iterator[MetricsSource]:
    """A sidecar's and a registry's /metrics fed with known observations (see feed.py): every
    fast-failure reason, resends and DEADLINE_EXCEEDED, and a p99 spread over many buckets."""
    fed = FedMesh()
    targets = fed.start()
    fed.warm_up()
    try:
        yield MetricsSource(
            targets=targets,
            drive=fed.drive,
            drilldown_tool=BETA,
            quantile_tool=ALPHA,
            firing_alerts=frozenset({"ToolmeshCircuitBreakerOpen", "ToolmeshRetryBudgetExhausted"}),
        )
    finally:
        fed.close()


def live_source(directory: Path) -> Iterator[MetricsSource]:
    """A live mesh (see live_mesh.py): a registry, a sidecar and tool servers under load."""
    mesh = LiveMesh(directory)
    try:
        targets = mesh.start()
        mesh.warm_up()
        yield MetricsSource(
            targets=targets,
            drive=mesh.drive,
            drilldown_tool=live_mesh.BETA,
            quantile_tool=live_mesh.ALPHA,
            firing_alerts=frozenset({"ToolmeshCircuitBreakerOpen", "ToolmeshRetryBudgetExhausted"}),
            declared_series=(
                'toolmesh_fallbacks_total{tool="beta",fallback="gamma"}',
                'toolmesh_retries_total{tool="beta",reason="UNAVAILABLE"}',
                'toolmesh_endpoint_ejections_total{tool="beta"}',
                'toolmesh_circuit_breaker_transitions_total{tool="beta",to="open"}',
                'toolmesh_fast_failures_total{tool="delta",reason="RETRY_BUDGET_EXHAUSTED"}',
            ),
        )
    finally:
        mesh.close()


@pytest.fixture(scope="session", params=["live", "fed"])
def metrics_source(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MetricsSource]:
    """What Prometheus scrapes: a live mesh, then the fed metrics API (which covers what a
    live run does not provoke on purpose: every fast-failure reason, resends, deadlines)."""
    if request.param == "live":
        yield from live_source(tmp_path_factory.mktemp("mesh"))
    else:
        yield from fed_source()


@pytest.fixture(scope="session")
def live(metrics_source: MetricsSource, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    prometheus = Prometheus(
        tmp_path_factory.mktemp("prometheus"), metrics_source.targets, RULE_FILES
    )
    prometheus.start()
    try:
        poll("the first scrape of every target", lambda: prometheus.scraped_since(0), 10)
        report = metrics_source.drive()
        loaded = time.time()

        def end_state_scraped() -> bool | None:
            if not prometheus.scraped_since(loaded):
                return None
            seen = prometheus.query("sum(toolmesh_call_duration_seconds_count)")
            return True if seen and float(seen[0]["value"][1]) == report.total_calls else None

        poll("a scrape of the load's end state", end_state_scraped, 10)
        records = [rule["record"] for rule in recording_rules()]
        poll(
            "every recording rule to produce series",
            lambda: all(prometheus.query(record) for record in records) or None,
            10,
        )
        yield Live(prometheus, metrics_source, report)
    finally:
        prometheus.stop()
