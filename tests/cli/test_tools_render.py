"""How `toolmesh tools` shows a listing (no sidecar needed)."""

from __future__ import annotations

import json

from google.protobuf import struct_pb2

from mesh.api.v1 import sidecar_pb2
from mesh.cli.call import pretty
from mesh.cli.tools import render_json, render_table


def listing(*, from_cache: bool = False) -> sidecar_pb2.SidecarListToolsResponse:
    schema = struct_pb2.Struct()
    schema.update({"type": "object", "properties": {"text": {"type": "string"}}})
    return sidecar_pb2.SidecarListToolsResponse(
        catalog_version=7,
        from_cache=from_cache,
        tools=[
            sidecar_pb2.ToolInfo(
                name="echo",
                version="1.0.0",
                services=["echo.v1.Echo"],
                endpoint_count=2,
                methods=[
                    sidecar_pb2.MethodInfo(name="Echo", path="/echo.v1.Echo/Echo"),
                    sidecar_pb2.MethodInfo(
                        name="ServerStream",
                        path="/echo.v1.Echo/ServerStream",
                        server_streaming=True,
                    ),
                    sidecar_pb2.MethodInfo(
                        name="Bidi",
                        path="/echo.v1.Echo/Bidi",
                        client_streaming=True,
                        server_streaming=True,
                    ),
                ],
            ),
            sidecar_pb2.ToolInfo(
                name="sentiment",
                services=["support.v1.Sentiment"],
                methods=[
                    sidecar_pb2.MethodInfo(
                        name="Analyze", path="/support.v1.Sentiment/Analyze", input_schema=schema
                    )
                ],
            ),
        ],
    )


def test_table_has_one_row_per_method_and_a_footer() -> None:
    lines = render_table(listing()).splitlines()
    assert lines[0].split() == ["TOOL", "VERSION", "ENDPOINTS", "METHOD"]
    assert lines[1].split() == ["echo", "1.0.0", "2", "echo.v1.Echo/Echo"]
    assert lines[2].split() == ["echo.v1.Echo/ServerStream", "(server", "stream)"]
    assert lines[3].split() == ["echo.v1.Echo/Bidi", "(bidi", "stream)"]
    assert lines[4].split() == ["sentiment", "-", "0", "support.v1.Sentiment/Analyze"]
    assert lines[5] == "2 tools, catalog version 7"
    # Method cells line up under the METHOD header.
    column = lines[0].index("METHOD")
    assert all(line[column:].startswith(("echo.v1", "support.v1")) for line in lines[1:5])


def test_table_says_when_the_sidecar_serves_from_its_cache() -> None:
    assert (
        render_table(listing(from_cache=True))
        .splitlines()[-1]
        .endswith("(served from the sidecar's cache: the registry is unreachable)")
    )


def test_empty_listing() -> None:
    empty = sidecar_pb2.SidecarListToolsResponse(catalog_version=3)
    assert render_table(empty) == "no tools registered (catalog version 3)"


def test_json_carries_schemas_and_zero_values() -> None:
    data = json.loads(render_json(listing()))
    assert data["catalogVersion"] == "7"
    sentiment = data["tools"][1]
    assert sentiment["endpointCount"] == 0
    assert sentiment["methods"][0]["inputSchema"]["properties"]["text"] == {"type": "string"}


def test_pretty_indents_json_and_keeps_other_text() -> None:
    assert pretty('{"a":1}') == '{\n  "a": 1\n}'
    assert pretty("not json") == "not json"
