"""A real Prometheus scraping a mesh's metrics endpoints under a bounded load.

`metrics_source` is the one fixture to replace to test against a live mesh: it yields the
scrape targets and a `drive()` that runs the load and reports what the load client saw.
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

from tests.observability.feed import ALPHA, BETA, FedMesh, LoadReport, MetricsSource
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


@pytest.fixture(scope="session")
def metrics_source() -> Iterator[MetricsSource]:
    """A sidecar's and a registry's /metrics fed with known observations (see feed.py)."""
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
