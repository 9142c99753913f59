"""Series declared from the catalog: every series a method's policy can produce exists at 0
before the first call, so the first increase of each is visible to `rate()` and alerts."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mesh.telemetry.metrics import NullSidecarMetrics, SidecarMetrics, metrics_registry
from sidecar.catalog import Catalog
from sidecar.metric_series import declare_catalog_series
from tests.relay.probe import tool_state

ENDPOINT = "127.0.0.1:50051"
UNARY = "probe.v1.Probe/Unary"
POLICY = """\
retry: {max_attempts: 3, retryable_codes: [UNAVAILABLE, RESOURCE_EXHAUSTED]}
fallback: backup
methods:
  Hang: {retry: {max_attempts: 1}}
"""

Labels = frozenset[tuple[str, str]]


def scrape(registry: CollectorRegistry) -> dict[tuple[str, Labels], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def catalog(policy: str = POLICY) -> Catalog:
    primary = tool_state("probe", [ENDPOINT], policy)
    primary.tool.cost.amount = 0.5
    primary.tool.cost.unit = "usd"
    backup = tool_state("backup", ["127.0.0.1:50052"], service="backup.v1.Probe")
    return Catalog.build([primary, backup], version=1, store_id="test")


def labelled(series: dict[tuple[str, Labels], float], name: str, **labels: str) -> float | None:
    return series.get((name, frozenset(labels.items())))


def test_every_series_a_policy_can_produce_exists_at_zero_before_any_call() -> None:
    registry = metrics_registry(process=False)
    declare_catalog_series(SidecarMetrics(registry), catalog(), policies=True)
    series = scrape(registry)
    tool = {"tool": "probe", "method": UNARY}
    for reason in ("UNAVAILABLE", "RESOURCE_EXHAUSTED", "UNPROCESSED"):
        assert labelled(series, "toolmesh_retries_total", **tool, reason=reason) == 0
    assert labelled(series, "toolmesh_fallbacks_total", **tool, fallback="backup") == 0
    for outcome in ("success", "failure"):
        assert labelled(series, "toolmesh_cost_total", **tool, unit="usd", outcome=outcome) == 0
    assert labelled(series, "toolmesh_call_duration_seconds_count", **tool, code="OK") == 0
    assert (
        labelled(
            series,
            "toolmesh_attempt_duration_seconds_count",
            **tool,
            endpoint=ENDPOINT,
            code="OK",
        )
        == 0
    )
    assert (
        labelled(series, "toolmesh_endpoint_ejections_total", tool="probe", endpoint=ENDPOINT) == 0
    )
    # Every method of every tool, not only those called so far.
    methods = {
        dict(labels)["method"]
        for name, labels in series
        if name == "toolmesh_call_duration_seconds_count" and dict(labels)["tool"] == "backup"
    }
    assert methods == {
        f"backup.v1.Probe/{m}" for m in ("Unary", "ServerStream", "ClientStream", "Bidi", "Hang")
    }


def test_a_method_override_without_retries_declares_no_retry_codes() -> None:
    registry = metrics_registry(process=False)
    declare_catalog_series(SidecarMetrics(registry), catalog(), policies=True)
    series = scrape(registry)
    hang = {"tool": "probe", "method": "probe.v1.Probe/Hang"}
    assert labelled(series, "toolmesh_retries_total", **hang, reason="UNAVAILABLE") is None
    # Resends of requests the tool never saw happen whatever the retry policy.
    assert labelled(series, "toolmesh_retries_total", **hang, reason="UNPROCESSED") == 0


def test_declaring_again_keeps_the_counts() -> None:
    registry = metrics_registry(process=False)
    metrics = SidecarMetrics(registry)
    declare_catalog_series(metrics, catalog(), policies=True)
    metrics.route("probe", UNARY).retry(14)
    declare_catalog_series(metrics, catalog(), policies=True)
    series = scrape(registry)
    tool = {"tool": "probe", "method": UNARY}
    assert labelled(series, "toolmesh_retries_total", **tool, reason="UNAVAILABLE") == 1


def test_without_policies_only_calls_and_attempts_are_declared() -> None:
    registry = metrics_registry(process=False)
    declare_catalog_series(SidecarMetrics(registry), catalog(), policies=False)
    series = scrape(registry)
    tool = {"tool": "probe", "method": UNARY}
    assert labelled(series, "toolmesh_call_duration_seconds_count", **tool, code="OK") == 0
    assert labelled(series, "toolmesh_fallbacks_total", **tool, fallback="backup") is None
    assert labelled(series, "toolmesh_cost_total", **tool, unit="usd", outcome="success") is None


def test_telemetry_off_declares_nothing_and_does_not_fail() -> None:
    metrics = NullSidecarMetrics()
    declare_catalog_series(metrics, catalog(), policies=True)
    assert metrics.route("probe", UNARY).method == UNARY
