"""The endpoints view: each instance of the selected tools (rate, errors, latency, ejections)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog import builder as cog
from grafana_foundation_sdk.models import dashboard as model

from grafana import panels, queries, variables
from grafana.panels import FULL, HALF, Query
from grafana.queries import ATTEMPT_BUCKETS, ATTEMPT_COUNT, RANGE
from mesh.telemetry.metrics import ENDPOINT_EJECTIONS, ENDPOINTS_EJECTED

UID = "toolmesh-endpoints"
SELECTED = 'tool=~"$tool", endpoint=~"$endpoint"'
BY = "tool, endpoint"
LEGEND = "{{tool}} {{endpoint}}"


def per_endpoint() -> list[cog.Builder[model.Panel]]:
    errors = queries.error_matchers(SELECTED)
    return [
        panels.graph(
            "Attempts per second by endpoint",
            "Attempts sent to each endpoint (first tries, retries, hedges, resends).",
            [Query(queries.rate(ATTEMPT_COUNT, SELECTED, BY), LEGEND)],
            unit="reqps",
        ),
        panels.graph(
            "Failed attempts by endpoint and status",
            "Attempts per second that ended with a server-side error, by status.",
            [
                Query(
                    queries.rate(ATTEMPT_COUNT, errors, f"{BY}, code"),
                    "{{tool}} {{endpoint}} {{code}}",
                )
            ],
            unit="reqps",
        ),
        panels.graph(
            "Error ratio by endpoint",
            "Share of each endpoint's attempts that ended with a server-side error.",
            [Query(queries.error_ratio(ATTEMPT_COUNT, SELECTED, BY), LEGEND)],
            unit="percentunit",
        ),
        panels.graph(
            "Attempt latency p50 / p99 by endpoint",
            "Percentiles of single attempts on each endpoint.",
            [
                Query(
                    queries.quantile(0.5, ATTEMPT_BUCKETS, SELECTED, BY),
                    f"{LEGEND} p50",
                ),
                Query(
                    queries.quantile(0.99, ATTEMPT_BUCKETS, SELECTED, BY),
                    f"{LEGEND} p99",
                    exemplar=True,
                ),
            ],
            unit="s",
        ),
        panels.graph(
            "Ejections by endpoint",
            "Outlier ejections of each endpoint in each interval.",
            [Query(queries.increase(ENDPOINT_EJECTIONS.name, SELECTED, BY), LEGEND)],
            width=HALF,
        ),
        panels.graph(
            "Endpoints ejected now, by tool",
            "How many of each tool's endpoints outlier detection keeps out (worst sidecar).",
            [Query(f'max by (tool) ({ENDPOINTS_EJECTED.name}{{tool=~"$tool"}})', "{{tool}}")],
            width=HALF,
        ),
        panels.grid(
            "Endpoints over the range",
            "Each endpoint over the dashboard's time range: attempts per second, error "
            "ratio, p99 and ejections.",
            [
                Query(
                    queries.rate(ATTEMPT_COUNT, SELECTED, BY, window=RANGE), LEGEND, instant=True
                ),
                Query(
                    queries.error_ratio(ATTEMPT_COUNT, SELECTED, BY, window=RANGE),
                    LEGEND,
                    instant=True,
                ),
                Query(
                    queries.quantile(0.99, ATTEMPT_BUCKETS, SELECTED, BY, window=RANGE),
                    LEGEND,
                    instant=True,
                ),
                Query(
                    queries.increase(ENDPOINT_EJECTIONS.name, SELECTED, BY, window=RANGE),
                    LEGEND,
                    instant=True,
                ),
            ],
            width=FULL,
        ),
    ]


def dashboard() -> builders.Dashboard:
    board = (
        variables.frame(
            UID,
            "toolmesh / endpoints",
            "Each endpoint (tool instance) of the selected tools: attempts, errors, latency "
            "and outlier ejections.",
        )
        .with_variable(variables.datasource())
        .with_variable(variables.tools(multi=True))
        .with_variable(
            variables.label_values(
                "endpoint",
                "endpoint",
                f'{ATTEMPT_COUNT}{{tool=~"$tool"}}',
                title="Endpoint",
                multi=True,
            )
        )
    )
    return panels.with_sections(board, [("Endpoints", per_endpoint())])
