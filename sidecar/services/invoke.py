"""Sidecar.Invoke's parts: resolving a method name, JSON <-> protobuf with the tool's pool, and
the call itself on raw bytes through the relay (so the tool's policy applies as to any call).

Every failure is an InvokeError carrying the gRPC status to answer with and a message that
names what was asked and what went wrong.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import json_format, message_factory
from google.protobuf.message import DecodeError, Message

from mesh.descriptors import DescriptorError, MethodShape
from sidecar.catalog import Catalog, ToolEntry

_METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")
# Headers gRPC or HTTP/2 own; a caller setting them would corrupt the call.
_RESERVED_KEYS = frozenset({"te", "content-type", "user-agent", "host", "connection"})

Metadata = tuple[tuple[str, str | bytes], ...]


class InvokeError(Exception):
    """A failed Invoke: the status to answer with, and the tool's trailing metadata if any."""

    def __init__(
        self, code: grpc.StatusCode, message: str, trailing_metadata: Metadata = ()
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.trailing_metadata = trailing_metadata


@dataclass(frozen=True, slots=True)
class ResolvedMethod:
    """A method to invoke, with the classes converting its messages."""

    entry: ToolEntry
    shape: MethodShape
    input_class: type[Message]
    output_class: type[Message]


def resolve(catalog: Catalog, method: str) -> ResolvedMethod:
    """Finds `TOOL/METHOD`, `pkg.Service/Method` or `/pkg.Service/Method` in the catalog.

    Raises InvokeError: INVALID_ARGUMENT for a malformed or ambiguous name, NOT_FOUND for an
    unknown tool, service or method (listing what is registered).
    """
    text = method.strip()
    head, _, name = text.removeprefix("/").rpartition("/")
    if not head or not name:
        raise InvokeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"InvokeRequest.method {method!r} is not TOOL/METHOD, SERVICE/METHOD or "
            "/SERVICE/METHOD",
        )
    entry = catalog.by_path.get(f"/{head}/{name}")
    if entry is not None:
        shape = next(m for m in entry.methods if m.path == f"/{head}/{name}")
        return _with_classes(entry, shape)
    owner = catalog.by_service.get(head)
    if owner is not None:
        names = [m.name for m in owner.methods if m.service == head]
        raise InvokeError(
            grpc.StatusCode.NOT_FOUND,
            f"service {head!r} (tool {owner.name!r}) has no method {name!r}; "
            f"its methods: {_listing(names)}",
        )
    tool = catalog.tools.get(head) if not text.startswith("/") else None
    if tool is None:
        raise InvokeError(
            grpc.StatusCode.NOT_FOUND,
            f"no tool or service named {head!r} (asked for {method!r}); "
            f"registered tools: {_listing(catalog.tools)}",
        )
    matches = [m for m in tool.methods if m.name == name]
    if not matches:
        raise InvokeError(
            grpc.StatusCode.NOT_FOUND,
            f"tool {head!r} has no method {name!r}; its methods: "
            f"{_listing(m.name for m in tool.methods)}",
        )
    if len(matches) > 1:
        raise InvokeError(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"tool {head!r} has a method {name!r} in several services "
            f"({_listing(m.service for m in matches)}): name it as SERVICE/{name}",
        )
    return _with_classes(tool, matches[0])


def _listing(names: Any) -> str:
    listed = sorted(set(names))
    return ", ".join(listed) if listed else "(none)"


def _with_classes(entry: ToolEntry, shape: MethodShape) -> ResolvedMethod:
    try:
        pool = entry.pool
        input_type = pool.FindMessageTypeByName(shape.input_type)
        output_type = pool.FindMessageTypeByName(shape.output_type)
    except (DescriptorError, KeyError) as error:
        raise InvokeError(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"tool {entry.name!r}: cannot load the descriptors of {shape.path}: {error}",
        ) from None
    return ResolvedMethod(
        entry=entry,
        shape=shape,
        input_class=message_factory.GetMessageClass(input_type),
        output_class=message_factory.GetMessageClass(output_type),
    )


def encode_requests(method: ResolvedMethod, request_json: str) -> list[bytes]:
    """The serialized request messages of `request_json` (default `{}`).

    A client-streaming method takes a JSON array of messages (a single object is a stream
    of one); any other method takes one JSON object. Raises InvokeError(INVALID_ARGUMENT)
    naming the message (`request_json[2]`) and the field that could not be read.
    """
    input_type = method.shape.input_type
    try:
        value = json.loads(request_json.strip() or "{}")
    except json.JSONDecodeError as error:
        raise InvokeError(
            grpc.StatusCode.INVALID_ARGUMENT, f"request_json is not valid JSON: {error}"
        ) from None
    if method.shape.client_streaming and isinstance(value, list):
        labelled = [(f"request_json[{index}]", item) for index, item in enumerate(value)]
    else:
        labelled = [("request_json", value)]
    payloads: list[bytes] = []
    # Well-known types have JSON forms that are not objects (wrappers, Timestamp, Value...).
    any_json = input_type.startswith("google.protobuf.")
    for label, item in labelled:
        if not isinstance(item, dict) and not any_json:
            expected = "a JSON array of objects or " if method.shape.client_streaming else ""
            raise InvokeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"{label} must be {expected}a JSON object with the fields of {input_type}, "
                f"not {type(item).__name__}",
            )
        message = method.input_class()
        try:
            json_format.ParseDict(item, message, descriptor_pool=method.entry.pool)
        except json_format.ParseError as error:
            raise InvokeError(
                grpc.StatusCode.INVALID_ARGUMENT, f"{label} is not a valid {input_type}: {error}"
            ) from None
        payloads.append(message.SerializeToString())
    return payloads


def decode_response(method: ResolvedMethod, data: bytes) -> str:
    """One response message as compact protobuf JSON; INTERNAL when the bytes don't parse."""
    try:
        message = method.output_class.FromString(data)
    except DecodeError as error:
        raise InvokeError(
            grpc.StatusCode.INTERNAL,
            f"tool {method.entry.name!r} answered {method.shape.path} with bytes that are not "
            f"a {method.shape.output_type}: {error}",
        ) from None
    as_dict = json_format.MessageToDict(message, descriptor_pool=method.entry.pool)
    return json.dumps(as_dict, ensure_ascii=False, separators=(",", ":"))


def call_metadata(metadata: Mapping[str, str]) -> Metadata:
    """InvokeRequest.metadata as gRPC metadata; `-bin` values are base64-decoded.

    Raises InvokeError(INVALID_ARGUMENT) naming the key that gRPC would refuse.
    """
    pairs: list[tuple[str, str | bytes]] = []
    for key, value in sorted(metadata.items()):
        if not _METADATA_KEY.match(key):
            raise InvokeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"metadata key {key!r} is invalid: use lowercase letters, digits, '-', '_', '.'",
            )
        if key.startswith("grpc-") or key in _RESERVED_KEYS:
            raise InvokeError(
                grpc.StatusCode.INVALID_ARGUMENT, f"metadata key {key!r} is reserved by gRPC"
            )
        if key.endswith("-bin"):
            try:
                pairs.append(
                    (key, base64.b64decode(value + "=" * (-len(value) % 4), validate=True))
                )
            except binascii.Error as error:
                raise InvokeError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"metadata {key!r}: a -bin value must be base64 ({error})",
                ) from None
        elif all(" " <= char <= "~" for char in value):
            pairs.append((key, value))
        else:
            raise InvokeError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"metadata {key!r}: values must be printable ASCII "
                "(send binary values base64-encoded under a key ending in -bin)",
            )
    return tuple(pairs)


async def call(
    channel: grpc.aio.Channel,
    method: ResolvedMethod,
    payloads: Sequence[bytes],
    *,
    timeout: float | None,
    metadata: Metadata,
    max_response_bytes: int,
) -> list[bytes]:
    """Calls the method with raw bytes on `channel`; returns the raw response messages.

    `timeout` in seconds (None: no deadline). A failed call raises InvokeError with the
    tool's own status code, message and trailing metadata, unchanged. A response stream
    larger than `max_response_bytes` in total is cancelled (RESOURCE_EXHAUSTED).
    """
    path = method.shape.path
    client_streaming = method.shape.client_streaming
    server_streaming = method.shape.server_streaming
    # No serializers: grpc passes request bytes through and returns response bytes as is.
    try:
        if server_streaming:
            stream: Any
            if client_streaming:
                stream = channel.stream_stream(path, None, None)(
                    iter(payloads), timeout=timeout, metadata=metadata
                )
            else:
                stream = channel.unary_stream(path, None, None)(
                    payloads[0], timeout=timeout, metadata=metadata
                )
            return await _collect(stream, path, max_response_bytes)
        if client_streaming:
            single: Any = channel.stream_unary(path, None, None)(
                iter(payloads), timeout=timeout, metadata=metadata
            )
        else:
            single = channel.unary_unary(path, None, None)(
                payloads[0], timeout=timeout, metadata=metadata
            )
        response: bytes = await single
        return [response]
    except grpc.aio.AioRpcError as error:
        trailing: Metadata = tuple(error.trailing_metadata() or ())  # type: ignore[arg-type]
        raise InvokeError(error.code(), error.details() or "", trailing) from None


async def _collect(stream: Any, path: str, max_response_bytes: int) -> list[bytes]:
    responses: list[bytes] = []
    total = 0
    async for data in stream:
        total += len(data)
        if total > max_response_bytes:
            stream.cancel()
            raise InvokeError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                f"the response stream of {path} exceeded {max_response_bytes} bytes; Invoke "
                "collects whole streams: narrow the request or call the method directly",
            )
        responses.append(data)
    return responses
