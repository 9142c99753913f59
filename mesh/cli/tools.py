"""`toolmesh tools`: what a sidecar can call, as a table for people or JSON for programs."""

from __future__ import annotations

import argparse
from datetime import timedelta

import grpc
from google.protobuf import json_format

from mesh.addresses import Address
from mesh.api.v1 import sidecar_pb2, sidecar_pb2_grpc
from mesh.cli import values
from mesh.cli.connection import call_unary, open_channel, refused
from mesh.cli.options import find, lookup


def list_tools(sidecar: Address, *, timeout: timedelta) -> sidecar_pb2.SidecarListToolsResponse:
    """The sidecar's listing; raises Unreachable or Refused."""
    with open_channel(sidecar) as channel:
        stub = sidecar_pb2_grpc.SidecarStub(channel)  # type: ignore[no-untyped-call]
        try:
            response: sidecar_pb2.SidecarListToolsResponse = call_unary(
                "sidecar",
                sidecar,
                channel,
                stub.ListTools,
                sidecar_pb2.SidecarListToolsRequest(),
                timeout=timeout,
            )
        except grpc.RpcError as error:
            raise refused("sidecar", sidecar, error) from None
    return response


def render_table(listing: sidecar_pb2.SidecarListToolsResponse) -> str:
    """One row per method, the tool's name, version and endpoint count on its first row."""
    if not listing.tools:
        return f"no tools registered (catalog version {listing.catalog_version})"
    header = ("TOOL", "VERSION", "ENDPOINTS", "METHOD")
    rows: list[tuple[str, str, str, str]] = []
    for tool in listing.tools:
        methods = [_method_cell(m) for m in tool.methods] or ["(no methods)"]
        first = (tool.name, tool.version or "-", str(tool.endpoint_count), methods[0])
        rows.append(first)
        rows.extend(("", "", "", method) for method in methods[1:])
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(3)]
    lines = [_row(header, widths), *(_row(row, widths) for row in rows)]
    count = len(listing.tools)
    footer = f"{count} tool{'' if count == 1 else 's'}, catalog version {listing.catalog_version}"
    if listing.from_cache:
        footer += " (served from the sidecar's cache: the registry is unreachable)"
    return "\n".join([*lines, footer])


def render_json(listing: sidecar_pb2.SidecarListToolsResponse) -> str:
    """The whole listing in protobuf's JSON form, JSON Schemas included."""
    return json_format.MessageToJson(listing, indent=2, always_print_fields_with_no_presence=True)


def run_tools(args: argparse.Namespace) -> int:
    """`toolmesh tools`: prints the listing."""
    sidecar = values.address(lookup(args, find("tools", "sidecar")))
    timeout = values.duration(lookup(args, find("tools", "timeout")))
    listing = list_tools(sidecar, timeout=timeout)
    print(render_json(listing) if args.json else render_table(listing))
    return 0


def _method_cell(method: sidecar_pb2.MethodInfo) -> str:
    path = method.path.lstrip("/") or method.name
    kind = {
        (True, True): " (bidi stream)",
        (True, False): " (client stream)",
        (False, True): " (server stream)",
    }.get((method.client_streaming, method.server_streaming), "")
    return path + kind


def _row(cells: tuple[str, str, str, str], widths: list[int]) -> str:
    return "  ".join(
        [*(cell.ljust(width) for cell, width in zip(cells, widths, strict=False)), cells[3]]
    ).rstrip()
