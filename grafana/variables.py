"""The dashboards' template variables and the dashboard frame they share."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.models import dashboard as model

from grafana.panels import PROMETHEUS
from grafana.queries import CALLS

# The datasource uids grafana/provisioning/datasources/toolmesh.yaml creates; each variable
# below starts on them and can be switched to any datasource of the same type.
PROMETHEUS_UID = "toolmesh-prometheus"
TRACES_UID = "toolmesh-traces"
ALL = ".*"  # the value "All" stands for: dashboards match labels with =~


def _datasource_choice(name: str, title: str, kind: str, uid: str) -> builders.DatasourceVariable:
    """`$name`: any datasource of type `kind`, starting on the provisioned one, `uid`."""
    return (
        builders.DatasourceVariable(name)
        .label(title)
        .type(kind)
        .current(model.VariableOption(text=uid, value=uid, selected=True))
    )


def datasource() -> builders.DatasourceVariable:
    """`$datasource`: the Prometheus that scrapes the sidecars and the registry."""
    return _datasource_choice("datasource", "Prometheus", "prometheus", PROMETHEUS_UID)


def traces() -> builders.DatasourceVariable:
    """`$traces`: where trace ids from exemplars are looked up (a Tempo datasource)."""
    return _datasource_choice("traces", "Traces", "tempo", TRACES_UID)


def label_values(
    name: str, label: str, series: str, *, title: str, multi: bool
) -> builders.QueryVariable:
    """A variable listing the values of `label` on `series`; with `multi`, also "All"."""
    variable = (
        builders.QueryVariable(name)
        .label(title)
        .datasource(PROMETHEUS)
        .query(f"label_values({series}, {label})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if multi:
        variable = variable.multi(True).include_all(True).all_value(ALL)
    return variable


def tools(*, multi: bool) -> builders.QueryVariable:
    """`$tool`: the tools that have had calls."""
    return label_values("tool", "tool", CALLS, title="Tool", multi=multi)


def frame(uid: str, title: str, description: str) -> builders.Dashboard:
    """A toolmesh dashboard: tagged, linked to the others, last hour, refreshed every 30 s."""
    return (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["toolmesh"])
        .editable()
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .link(
            builders.DashboardLink("toolmesh")
            .type(model.DashboardLinkType.DASHBOARDS)
            .tags(["toolmesh"])
            .as_dropdown(True)
            .include_vars(False)
            .keep_time(True)
        )
    )
