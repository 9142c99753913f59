"""The dashboards: generated JSON up to date, well formed, and provisioned consistently."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from grafana import build, variables
from tests.observability.conftest import DASHBOARDS_DIR, REPO

PROVISIONING = REPO / "grafana" / "provisioning"
LEGEND_LABEL = re.compile(r"\{\{\s*(\w+)\s*\}\}")
BY_LABELS = re.compile(r"\bby \(([^)]*)\)")


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


BOARDS = {path.name: load(path) for path in sorted(DASHBOARDS_DIR.glob("*.json"))}


def test_the_committed_json_is_what_the_builders_make() -> None:
    assert build.stale() == [], "grafana/dashboards is stale: run `make dashboards`"


def test_a_stale_file_is_reported(tmp_path: Path) -> None:
    for name, text in build.rendered().items():
        (tmp_path / name).write_text(text)
    assert build.stale(tmp_path) == []
    (tmp_path / "toolmesh-tool.json").write_text("{}\n")
    assert build.stale(tmp_path) == ["toolmesh-tool.json"]


def test_every_dashboard_is_there_with_its_own_uid() -> None:
    assert set(BOARDS) == set(build.DASHBOARDS)
    uids = [board["uid"] for board in BOARDS.values()]
    assert sorted(uids) == ["toolmesh-endpoints", "toolmesh-overview", "toolmesh-tool"]


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_are_numbered_placed_and_query_through_the_variables(name: str) -> None:
    panels = BOARDS[name]["panels"]
    ids = [panel["id"] for panel in panels]
    assert ids == list(range(1, len(panels) + 1))
    for panel in panels:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel.get("description"), f"{panel['title']}: no description"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids) and all(ref_ids), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in ("${datasource}", "${traces}")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_legends_name_only_labels_the_query_keeps(name: str) -> None:
    for panel in BOARDS[name]["panels"]:
        for target in panel.get("targets", []):
            legend = target.get("legendFormat", "")
            kept = {
                label.strip()
                for group in BY_LABELS.findall(target.get("expr", ""))
                for label in group.split(",")
            }
            for label in LEGEND_LABEL.findall(legend):
                # A query without aggregation keeps every label, e.g. `instance`.
                assert label in kept or "by (" not in target["expr"], (panel["title"], label)


def test_the_drilldown_has_exemplars_and_a_trace_datasource() -> None:
    board = BOARDS["toolmesh-tool.json"]
    names = [variable["name"] for variable in board["templating"]["list"]]
    assert names == ["datasource", "traces", "tool", "method"]
    exemplar_targets = [
        target
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if target.get("exemplar")
    ]
    assert exemplar_targets
    trace_panels = [p for p in board["panels"] if p.get("datasource", {}).get("uid") == "${traces}"]
    assert trace_panels


def test_provisioning_serves_the_uids_the_dashboards_start_on() -> None:
    sources = yaml.safe_load((PROVISIONING / "datasources" / "toolmesh.yaml").read_text())
    by_uid = {source["uid"]: source for source in sources["datasources"]}
    assert by_uid[variables.PROMETHEUS_UID]["type"] == "prometheus"
    assert by_uid[variables.TRACES_UID]["type"] == "tempo"
    destinations = by_uid[variables.PROMETHEUS_UID]["jsonData"]["exemplarTraceIdDestinations"]
    assert destinations == [{"name": "trace_id", "datasourceUid": variables.TRACES_UID}]
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "toolmesh.yaml").read_text())
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"].endswith("grafana/dashboards")
