"""The drill-down: one tool, its methods, with exemplars linked to traces.

`$tool` picks the tool, `$method` one or more of its methods (`pkg.Service/Method`),
`$traces` the trace datasource that exemplars' trace ids and the traces table use.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cog
from grafana_foundation_sdk.models import dashboard as model

from grafana import panels, queries, scope, variables
from grafana.panels import FULL, QUARTER, SIXTH, THIRD, Query
from grafana.queries import ATTEMPT_BUCKETS, CALL_BUCKETS, CALLS
from grafana.scope import BREAKER_STATES, Scope
from mesh.telemetry.metrics import (
    ATTEMPTS,
    BREAKER_STATE,
    BREAKER_TRANSITIONS,
    CALLS_IN_FLIGHT,
    FAST_FAILURES,
    RETRIES,
)

UID = "toolmesh-tool"
SELECTED = 'tool="$tool", method=~"$method"'
METHODS = Scope(SELECTED, "method")


def summary() -> list[cog.Builder[model.Panel]]:
    return [
        scope.call_rate_stat(METHODS, "Calls to the selected methods."),
        scope.success_rate_stat(METHODS, "Share of calls that ended OK."),
        panels.single_stat(
            "p99",
            "99th percentile of call duration, as agents see it.",
            Query(queries.quantile(0.99, CALL_BUCKETS, SELECTED, "")),
            unit="s",
            width=SIXTH,
        ),
        panels.single_stat(
            "In flight",
            "Calls to the tool inside the sidecars now (all methods).",
            Query(f'sum({CALLS_IN_FLIGHT.name}{{tool="$tool"}})'),
            width=SIXTH,
        ),
        panels.single_stat(
            "Retries per call",
            "Retries per call over the interval: how much retrying absorbs.",
            # A tool that never retried has no retry series: count that as 0, not "no data".
            Query(
                queries.ratio(
                    f"({queries.rate(RETRIES.name, SELECTED, '')} or vector(0))",
                    queries.rate(CALLS, SELECTED, ""),
                )
            ),
            width=SIXTH,
        ),
        panels.single_stat(
            "Cost per hour",
            "The selected methods' cost per hour (failed calls included), all units summed.",
            Query(queries.cost_per_hour(SELECTED, "")),
            width=SIXTH,
        ),
    ]


def latency() -> list[cog.Builder[model.Panel]]:
    return [
        panels.graph(
            "Latency by method",
            "p50 / p95 / p99 of call duration per method. Dots are exemplars: each carries "
            "the trace id of a call in that bucket; click one to open the trace in $traces.",
            scope.latency_percentiles(METHODS),
            unit="s",
        ),
        panels.distribution(
            "Call duration distribution",
            "Calls per duration bucket over time (all selected methods).",
            Query(
                f"sum by (le) (increase({CALL_BUCKETS}{{{SELECTED}}}[$__rate_interval]))",
                "{{le}}",
                exemplar=True,
                heatmap=True,
            ),
        ),
        panels.graph(
            "Calls by method and status",
            "Calls per second by method and gRPC status.",
            [Query(queries.rate(CALLS, SELECTED, "method, code"), "{{method}} {{code}}")],
            unit="reqps",
            stacked=True,
        ),
        panels.graph(
            "Attempt latency p99 by endpoint",
            "99th percentile of single attempts per endpoint: an endpoint far above the "
            "others is a candidate for ejection.",
            [
                Query(
                    queries.quantile(0.99, ATTEMPT_BUCKETS, SELECTED, "endpoint"),
                    "{{endpoint}}",
                    exemplar=True,
                )
            ],
            unit="s",
            links=[
                panels.link_to("Open the endpoints view", "toolmesh-endpoints", "var-tool=$tool")
            ],
        ),
    ]


def resilience() -> list[cog.Builder[model.Panel]]:
    return [
        panels.graph(
            "Attempts by kind",
            "Attempts per second: first tries, retries, hedges, resends, fallbacks.",
            [Query(queries.rate(ATTEMPTS.name, SELECTED, "kind"), "{{kind}}")],
            unit="reqps",
            width=THIRD,
            stacked=True,
        ),
        scope.by_reason(
            METHODS,
            RETRIES.name,
            "Retries by reason",
            "Retries per second by the failed attempt's status (UNPROCESSED: a resend).",
        ),
        scope.by_reason(
            METHODS,
            FAST_FAILURES.name,
            "Fast failures by reason",
            "Calls the mesh ended itself, per second.",
        ),
        panels.states(
            "Circuit breaker by method",
            "Each method's breaker (the worst across sidecars).",
            Query(f"max by (method) ({BREAKER_STATE.name}{{{SELECTED}}})", "{{method}}"),
            BREAKER_STATES,
            width=THIRD,
        ),
        panels.graph(
            "Breaker transitions",
            "Breaker state changes in each interval, by the state entered.",
            [
                Query(
                    queries.increase(BREAKER_TRANSITIONS.name, SELECTED, "method, to"),
                    "{{method}} to {{to}}",
                )
            ],
            width=THIRD,
        ),
        scope.hedges_and_fallbacks(
            METHODS, "Hedged attempts and calls handed to the fallback tool, per second."
        ),
        panels.graph(
            "Cost per hour by outcome",
            "Cost per hour of successful and failed calls, by unit.",
            [Query(queries.cost_per_hour(SELECTED, "unit, outcome"), "{{unit}} {{outcome}}")],
            width=QUARTER * 2,
        ),
    ]


def traces() -> list[cog.Builder[model.Panel]]:
    # Under the OpenTelemetry RPC conventions a call's span is named after its method
    # (pkg.Service/Method): exactly the metrics' `method` label.
    return [
        panels.traces(
            "Slowest recent traces of the selected methods",
            "Traces of calls to the selected methods from $traces, slowest first.",
            '{ name =~ "${method:regex}" } | select(span.rpc.grpc.status_code)',
            width=FULL,
        )
    ]


def dashboard() -> builders.Dashboard:
    board = (
        variables.frame(
            UID,
            "toolmesh / tool",
            "One tool in depth: its methods' rate, status, latency with exemplars linked to "
            "traces, attempts, retries, breakers, fallbacks and cost.",
        )
        .with_variable(variables.datasource())
        .with_variable(variables.traces())
        .with_variable(variables.tools(multi=False))
        .with_variable(
            variables.label_values(
                "method", "method", f'{CALLS}{{tool="$tool"}}', title="Method", multi=True
            )
        )
    )
    sections = (
        ("$tool", summary()),
        ("Latency", latency()),
        ("Resilience and cost", resilience()),
        ("Traces", traces()),
    )
    return panels.with_sections(board, sections)
