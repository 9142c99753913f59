"""The overview: every tool at a glance (traffic, latency, cost, resilience, the registry).

The dashboard is a list of sections, each a row of panels; pipelines will add their own
section here when they export metrics.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders

from grafana import panels, queries, scope, variables
from grafana.panels import QUARTER, SIXTH, THIRD, Query, Section
from grafana.queries import CALL_BUCKETS, CALLS, RANGE
from grafana.scope import BREAKER_STATES, Scope
from mesh.telemetry.metrics import (
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    CALLS_IN_FLIGHT,
    CATALOG_UPDATE_AGE,
    CATALOG_VERSION,
    COST,
    ENDPOINT_EJECTIONS,
    ENDPOINTS_EJECTED,
    FAST_FAILURES,
    REGISTRY_CONNECTED,
    REGISTRY_REQUESTS,
    REGISTRY_TOOLS,
    REGISTRY_VERSION,
    REGISTRY_WATCHERS,
    RETRIES,
)

UID = "toolmesh-overview"
TOOL = 'tool=~"$tool"'
TOOLS = Scope(TOOL, "tool")

CONNECTED = panels.state_mappings([(0, "disconnected", "red"), (1, "connected", "green")])


def _to_tool(label: str = "${__field.labels.tool}") -> builders.DashboardLink:
    return panels.link_to("Open the tool's dashboard", "toolmesh-tool", f"var-tool={label}")


def traffic() -> Section:
    return (
        "Traffic",
        [
            scope.call_rate_stat(TOOLS, "Calls to the selected tools through every sidecar."),
            scope.success_rate_stat(
                TOOLS, "Share of calls that ended OK (any other status counts against it)."
            ),
            panels.single_stat(
                "Calls in flight",
                "Calls inside the sidecars now.",
                Query(f"sum({CALLS_IN_FLIGHT.name}{{{TOOL}}})"),
                width=SIXTH,
            ),
            panels.single_stat(
                "Sidecars connected to the registry",
                "Sidecars whose Watch stream to the registry is open, of all scraped.",
                Query(f"sum({REGISTRY_CONNECTED.name}) / count({REGISTRY_CONNECTED.name})"),
                unit="percentunit",
                width=SIXTH,
                thresholds=[(None, "red"), (1, "green")],
            ),
            panels.single_stat(
                "Oldest catalog",
                "Seconds since the least recently updated sidecar's catalog changed.",
                Query(f"max({CATALOG_UPDATE_AGE.name})"),
                unit="s",
                width=SIXTH,
            ),
            panels.single_stat(
                "Fast failures per second",
                "Calls the mesh ended itself (open circuit, concurrency limit, retry budget, "
                "no healthy endpoint, deadline).",
                Query(queries.rate(FAST_FAILURES.name, TOOL, "")),
                unit="reqps",
                width=SIXTH,
                thresholds=[(None, "green"), (0.01, "orange")],
            ),
            panels.graph(
                "Call rate by tool",
                "Calls per second as agents see them, by tool.",
                [Query(queries.rate(CALLS, TOOL, "tool"), "{{tool}}")],
                unit="reqps",
                links=[_to_tool()],
            ),
            panels.graph(
                "Success rate by tool",
                "Share of calls that ended OK, by tool.",
                [Query(queries.success_ratio(TOOL, "tool"), "{{tool}}")],
                unit="percentunit",
                links=[_to_tool()],
            ),
            panels.graph(
                "Failed calls by tool and status",
                "Calls per second that did not end OK, by tool and gRPC status.",
                [
                    Query(
                        queries.rate(CALLS, f'{TOOL}, code!="OK"', "tool, code"),
                        "{{tool}} {{code}}",
                    )
                ],
                unit="reqps",
                width=24,
                stacked=True,
            ),
        ],
    )


def latency() -> Section:
    return (
        "Latency (as agents see it)",
        [
            panels.graph(
                "p50 / p95 / p99 by tool",
                "Call duration percentiles per tool, estimated from the histogram buckets "
                "(0.25 ms to 60 s). Dots are exemplars: click one to open its trace.",
                scope.latency_percentiles(TOOLS),
                unit="s",
                width=16,
                links=[_to_tool()],
            ),
            panels.bars(
                "Slowest tools (p99 over the range)",
                "The ten tools with the highest p99 over the dashboard's time range.",
                [
                    Query(
                        "topk(10, "
                        + queries.quantile(0.99, CALL_BUCKETS, TOOL, "tool", window=RANGE)
                        + ")",
                        "{{tool}}",
                        instant=True,
                    )
                ],
                unit="s",
                width=THIRD,
                links=[_to_tool()],
            ),
        ],
    )


def cost() -> Section:
    return (
        "Cost",
        [
            panels.graph(
                "Cost per hour by tool",
                "Each tool's registered cost per call times its calls, per hour, by unit.",
                [Query(queries.cost_per_hour(TOOL, "tool, unit"), "{{tool}} ({{unit}})")],
                width=16,
            ),
            panels.bars(
                "Cost over the range by tool",
                "Total cost of the calls in the dashboard's time range, failed calls included.",
                [
                    Query(
                        queries.increase(COST.name, TOOL, "tool, unit", window=RANGE),
                        "{{tool}} ({{unit}})",
                        instant=True,
                    )
                ],
                width=THIRD,
            ),
        ],
    )


def resilience() -> Section:
    return (
        "Resilience",
        [
            scope.by_reason(
                TOOLS,
                RETRIES.name,
                "Retries by tool and reason",
                "Retries per second, by the status of the attempt that failed "
                "(UNPROCESSED: resent because the tool never saw it).",
            ),
            scope.hedges_and_fallbacks(
                TOOLS, "Hedged attempts per second, and calls handed to a fallback tool."
            ),
            scope.by_reason(
                TOOLS,
                FAST_FAILURES.name,
                "Fast failures by tool and reason",
                "Calls the mesh ended itself, per second, by reason.",
            ),
            panels.states(
                "Circuit breakers",
                "State of each tool method's breaker (the worst across sidecars).",
                Query(
                    f"max by (tool, method) ({BREAKER_STATE.name}{{{TOOL}}})", "{{tool}} {{method}}"
                ),
                BREAKER_STATES,
            ),
            panels.graph(
                "Breaker trips",
                "Breakers that opened, per tool method, in each interval.",
                [
                    Query(
                        queries.increase(
                            BREAKER_TRANSITIONS.name, f'{TOOL}, to="open"', "tool, method"
                        ),
                        "{{tool}} {{method}}",
                    )
                ],
                width=QUARTER,
            ),
            panels.graph(
                "Endpoint ejections",
                "Endpoints ejected by outlier detection in each interval, and ejected now.",
                [
                    Query(
                        queries.increase(ENDPOINT_EJECTIONS.name, TOOL, "tool, endpoint"),
                        "{{tool}} {{endpoint}}",
                    ),
                    Query(
                        f"max by (tool) ({ENDPOINTS_EJECTED.name}{{{TOOL}}})",
                        "{{tool}} ejected now",
                    ),
                ],
                width=QUARTER,
            ),
        ],
    )


def registry() -> Section:
    return (
        "Registry",
        [
            panels.states(
                "Sidecars' registry connection",
                "Whether each sidecar's Watch stream to the registry is open.",
                Query(REGISTRY_CONNECTED.name, "{{instance}}"),
                CONNECTED,
                width=THIRD,
            ),
            panels.graph(
                "Catalog versions",
                "The registry's version and the version each sidecar's catalog reflects: a "
                "sidecar that lags behind misses changes.",
                [
                    Query(f"max({REGISTRY_VERSION.name})", "registry"),
                    Query(CATALOG_VERSION.name, "{{instance}}"),
                ],
                width=THIRD,
            ),
            panels.graph(
                "Registry requests by RPC and status",
                "Registry RPCs per second; tools registered and watchers open.",
                [
                    Query(
                        queries.rate(REGISTRY_REQUESTS.name, "", "rpc, code"), "{{rpc}} {{code}}"
                    ),
                    Query(f"max({REGISTRY_TOOLS.name})", "tools registered"),
                    Query(f"sum({REGISTRY_WATCHERS.name})", "watchers"),
                ],
                width=THIRD,
            ),
        ],
    )


SECTIONS = (traffic, latency, cost, resilience, registry)


def dashboard() -> builders.Dashboard:
    board = (
        variables.frame(
            UID,
            "toolmesh / overview",
            "Every tool behind the sidecars: rate, success, latency percentiles, cost, retries, "
            "breakers, ejections, and the registry's health.",
        )
        .with_variable(variables.datasource())
        .with_variable(variables.traces())
    )
    board = board.with_variable(variables.tools(multi=True))
    return panels.with_sections(board, (section() for section in SECTIONS))
