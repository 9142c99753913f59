"""Writes the dashboards' JSON: `python -m grafana.build` (what `make dashboards` runs).

`--check` writes nothing and exits 1, naming the stale files, when the committed JSON differs
from what the builders produce.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from grafana import endpoints, overview, tool

OUTPUT = Path(__file__).resolve().parent / "dashboards"
DASHBOARDS: dict[str, Callable[[], builders.Dashboard]] = {
    "toolmesh-overview.json": overview.dashboard,
    "toolmesh-tool.json": tool.dashboard,
    "toolmesh-endpoints.json": endpoints.dashboard,
}


def render(build: Callable[[], builders.Dashboard]) -> str:
    """The dashboard as provisioned JSON: panels numbered in order, keys sorted."""
    board = build().build()
    for number, panel in enumerate(board.panels or [], start=1):
        if isinstance(panel, model.Panel | model.RowPanel):
            panel.id_val = number
    return json.dumps(board, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def rendered() -> dict[str, str]:
    """Every dashboard's JSON by file name."""
    return {name: render(build) for name, build in DASHBOARDS.items()}


def stale(directory: Path = OUTPUT) -> list[str]:
    """Files in `directory` that differ from (or lack) what the builders produce."""
    return [
        name
        for name, text in rendered().items()
        if not (directory / name).is_file() or (directory / name).read_text() != text
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.build", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only check, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        names = stale()
        for name in names:
            print(f"grafana/dashboards/{name} is stale: run `make dashboards`", file=sys.stderr)
        return 1 if names else 0
    OUTPUT.mkdir(exist_ok=True)
    for name, text in rendered().items():
        (OUTPUT / name).write_text(text)
        print(f"wrote grafana/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
