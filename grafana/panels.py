"""Small typed constructors over grafana-foundation-sdk's builders, in the dashboards' style.

Every Prometheus panel reads the `${datasource}` variable; legends name the labels a query
groups by (`{{tool}}`), which the live test checks come back from Prometheus.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, Self, TypeVar

from grafana_foundation_sdk.builders import (
    bargauge,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    tempo,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.builders.common import (
    ReduceDataOptions,
    StackingConfig,
    VizLegendOptions,
)
from grafana_foundation_sdk.cog import builder as cog
from grafana_foundation_sdk.cog import variants
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

PROMETHEUS = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
TRACES = model.DataSourceRef(type_val="tempo", uid="${traces}")

# Stats and bars show each series' last value, not a reduction over the time range.
_LAST = ReduceDataOptions().calcs(["lastNotNull"]).values(False)

# Panel sizes on Grafana's 24-column grid.
FULL, HALF, THIRD, QUARTER, SIXTH = 24, 12, 8, 6, 4
TALL, SHORT = 8, 4

# A dashboard section: a row's title and the panels under it, in order.
Section = tuple[str, Sequence[cog.Builder[model.Panel]]]


@dataclass(frozen=True, slots=True)
class Query:
    """One PromQL target: `legend` names series (`{{tool}} {{code}}`), `instant` asks for
    the latest value only, `exemplar` fetches trace exemplars of the histogram beneath."""

    expr: str
    legend: str = ""
    instant: bool = False
    exemplar: bool = False
    heatmap: bool = False


class PanelBuilder(Protocol):
    """What every SDK panel builder offers and the constructors here use."""

    def title(self, title: str) -> Self: ...
    def description(self, description: str) -> Self: ...
    def datasource(self, datasource: model.DataSourceRef) -> Self: ...
    def with_target(self, target: cog.Builder[variants.Dataquery]) -> Self: ...
    def unit(self, unit: str) -> Self: ...
    def span(self, w: int) -> Self: ...
    def height(self, h: int) -> Self: ...
    def data_links(self, links: list[cog.Builder[model.DashboardLink]]) -> Self: ...


P = TypeVar("P", bound=PanelBuilder)


def _target(query: Query, ref_id: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref_id).datasource(PROMETHEUS)
    if query.legend:
        target = target.legend_format(query.legend)
    # Instant queries feed rankings and tables; range queries feed graphs.
    target = target.instant().format(PromQueryFormat.TABLE) if query.instant else target.range()
    if query.exemplar:
        target = target.exemplar(True)
    if query.heatmap:
        target = target.format(PromQueryFormat.HEATMAP)
    return target


def _fill(
    panel: P,
    title: str,
    description: str,
    queries: Sequence[Query],
    unit: str,
    width: int,
    height: int,
    links: Sequence[builders.DashboardLink] = (),
) -> P:
    panel = (
        panel.title(title)
        .description(description)
        .datasource(PROMETHEUS)
        .span(width)
        .height(height)
    )
    if unit:
        panel = panel.unit(unit)
    for index, query in enumerate(queries):
        panel = panel.with_target(_target(query, chr(ord("A") + index)))
    if links:
        panel = panel.data_links(list(links))
    return panel


def link_to(title: str, dashboard_uid: str, variables: str) -> builders.DashboardLink:
    """A data link to another toolmesh dashboard, keeping the time range; `variables` is
    the query string (`var-tool=${__field.labels.tool}`)."""
    return (
        builders.DashboardLink(title)
        .url(f"/d/{dashboard_uid}?{variables}&${{__url_time_range}}")
        .target_blank(False)
    )


def graph(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "",
    width: int = HALF,
    height: int = TALL,
    stacked: bool = False,
    links: Sequence[builders.DashboardLink] = (),
) -> timeseries.Panel:
    """A time series panel, legend as a table with the mean and the last value."""
    panel = _fill(timeseries.Panel(), title, description, queries, unit, width, height, links)
    panel = panel.legend(
        VizLegendOptions()
        .display_mode(common.LegendDisplayMode.TABLE)
        .placement(common.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["mean", "lastNotNull"])
    ).fill_opacity(10)
    if stacked:
        panel = panel.stacking(StackingConfig().mode(common.StackingMode.NORMAL)).fill_opacity(40)
    return panel


def single_stat(
    title: str,
    description: str,
    query: Query,
    *,
    unit: str = "",
    width: int = QUARTER,
    height: int = SHORT,
    mappings: Sequence[model.ValueMapping] = (),
    thresholds: Sequence[tuple[float | None, str]] = (),
) -> stat.Panel:
    """A single big number with a sparkline; `thresholds` are (from value, color) steps,
    the first from None (minus infinity)."""
    panel = _fill(stat.Panel(), title, description, [query], unit, width, height)
    panel = panel.graph_mode(common.BigValueGraphMode.AREA).reduce_options(_LAST)
    if mappings:
        panel = panel.mappings(list(mappings))
    if thresholds:
        panel = panel.thresholds(_thresholds(thresholds)).color_mode(
            common.BigValueColorMode.BACKGROUND
        )
    return panel


def bars(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "",
    width: int = HALF,
    height: int = TALL,
    links: Sequence[builders.DashboardLink] = (),
) -> bargauge.Panel:
    """Horizontal bars of instant values (a ranking)."""
    panel = _fill(bargauge.Panel(), title, description, queries, unit, width, height, links)
    return (
        panel.orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.GRADIENT)
        .reduce_options(_LAST)
    )


def states(
    title: str,
    description: str,
    query: Query,
    mappings: Sequence[model.ValueMapping],
    *,
    width: int = HALF,
    height: int = TALL,
) -> statetimeline.Panel:
    """A state timeline: one row per series, colored by `mappings`."""
    panel = _fill(statetimeline.Panel(), title, description, [query], "", width, height)
    return panel.mappings(list(mappings)).merge_values(True).show_value(common.VisibilityMode.AUTO)


def distribution(
    title: str, description: str, query: Query, *, width: int = HALF, height: int = TALL
) -> heatmap.Panel:
    """A heatmap of a histogram's buckets as Prometheus returns them."""
    panel = _fill(heatmap.Panel(), title, description, [query], "", width, height)
    return panel.y_axis(heatmap.YAxisConfig().unit("s")).exemplars_color("rgba(255,0,255,0.7)")


def grid(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    width: int = FULL,
    height: int = TALL,
) -> table.Panel:
    """A table of instant queries, merged into one row per label set."""
    panel = _fill(table.Panel(), title, description, queries, "", width, height)
    return panel.with_transformation(model.DataTransformerConfig(id_val="merge", options={}))


def traces(
    title: str, description: str, traceql: str, *, width: int = FULL, height: int = TALL
) -> table.Panel:
    """A table of traces from the `${traces}` datasource (Tempo) found by `traceql`."""
    query = (
        tempo.TempoQuery()
        .ref_id("A")
        .query_type("traceql")
        .query(traceql)
        .limit(20)
        .datasource(TRACES)
    )
    return (
        table.Panel()
        .title(title)
        .description(description)
        .datasource(TRACES)
        .span(width)
        .height(height)
        .with_target(query)
    )


def with_sections(board: builders.Dashboard, sections: Iterable[Section]) -> builders.Dashboard:
    """`board` with each section laid out in order: a row with its title, then its panels."""
    for title, members in sections:
        board = board.with_row(builders.Row(title))
        for panel in members:
            board = board.with_panel(panel)
    return board


def state_mappings(states: Sequence[tuple[int, str, str]]) -> list[model.ValueMapping]:
    """Value mappings from (value, text, color)."""
    return [
        model.ValueMap(
            options={
                str(value): model.ValueMappingResult(text=text, color=color, index=index)
                for index, (value, text, color) in enumerate(states)
            }
        )
    ]


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> builders.ThresholdsConfig:
    return (
        builders.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )
