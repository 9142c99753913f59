"""`toolmesh call TOOL/METHOD JSON`: one tool call through the sidecar, JSON in, JSON out."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import timedelta

import grpc

from mesh.addresses import Address
from mesh.api.v1 import sidecar_pb2, sidecar_pb2_grpc
from mesh.cli import values
from mesh.cli.connection import open_channel, raise_if_unreachable, status_code, status_details
from mesh.cli.errors import ToolCallFailed, UsageError
from mesh.cli.options import find, lookup

# gRPC metadata keys: lowercase ASCII letters, digits, `-`, `_`, `.`.
_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")


@dataclass(frozen=True)
class CallResult:
    """A tool's answer: the response message(s) as JSON text, and the time the call took."""

    messages: tuple[str, ...]  # one for a unary method; every message of a server stream
    latency: timedelta


def invoke(
    sidecar: Address,
    target: str,
    request_json: str,
    *,
    timeout: timedelta,
    metadata: dict[str, str] | None = None,
) -> CallResult:
    """Calls `target` through the sidecar's Invoke; raises Unreachable or ToolCallFailed."""
    request = sidecar_pb2.InvokeRequest(
        method=target, request_json=request_json, metadata=metadata or {}
    )
    with open_channel(sidecar) as channel:
        stub = sidecar_pb2_grpc.SidecarStub(channel)  # type: ignore[no-untyped-call]
        started = time.perf_counter()
        try:
            response = stub.Invoke(request, timeout=timeout.total_seconds())
        except grpc.RpcError as error:
            raise_if_unreachable("sidecar", sidecar, channel, error, timeout)
            raise ToolCallFailed(status_code(error).name, status_details(error)) from None
        latency = timedelta(seconds=time.perf_counter() - started)
    messages = tuple(response.stream_json) or (response.response_json or "{}",)
    return CallResult(messages, latency)


def pretty(message_json: str) -> str:
    """A JSON message indented for reading (the text as sent when it is not JSON)."""
    try:
        return json.dumps(json.loads(message_json), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return message_json


def run_call(args: argparse.Namespace) -> int:
    """`toolmesh call`: prints the response JSON; a tool error raises ToolCallFailed."""
    target = _target(args.target)
    request_json = _request_json(lookup(args, find("call", "request")).text or "{}")
    metadata = _metadata(args.headers)
    sidecar = values.address(lookup(args, find("call", "sidecar")))
    timeout = values.duration(lookup(args, find("call", "timeout")))
    result = invoke(sidecar, target, request_json, timeout=timeout, metadata=metadata)
    print("\n".join(pretty(message) for message in result.messages))
    return 0


def _target(text: str) -> str:
    head, _, method = text.rpartition("/")
    if not head.strip("/") or not method:
        raise UsageError(
            f"TARGET: {text!r} is not TOOL/METHOD, SERVICE/METHOD or /SERVICE/METHOD "
            "(e.g. echo/Echo)"
        )
    return text


def _request_json(text: str) -> str:
    if text == "-":
        text = sys.stdin.read()
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"JSON: the request is not valid JSON: {error}") from None
    return text


def _metadata(headers: list[str]) -> dict[str, str]:
    metadata: dict[str, str] = {}
    for header in headers:
        key, sep, value = header.partition(":")
        key = key.strip().lower()
        if not sep or not key:
            raise UsageError(f"-H: {header!r} is not KEY:VALUE")
        if not _METADATA_KEY.match(key) or key.startswith("grpc-") or key.endswith("-bin"):
            raise UsageError(
                f"-H: {key!r} cannot be a metadata key (lowercase letters, digits, -, _, .; "
                "no grpc- prefix, no -bin suffix)"
            )
        metadata[key] = value.strip()
    return metadata
