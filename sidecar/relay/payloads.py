"""Payloads for the invocation log: the first message of each direction of a call, kept
(bounded) only while payload logging is on, and decoded with the tool's descriptors.

The relay never decodes messages to forward them; this decodes copies, after the call,
and only for the log.
"""

from __future__ import annotations

from google.protobuf import message_factory
from google.protobuf.message import DecodeError, Message

from sidecar.catalog import ToolEntry

# Largest message kept per direction: a message is decoded whole or not at all.
CAPTURE_LIMIT = 1 << 20


class PayloadCapture:
    """The first bytes of each direction of one call (at most `CAPTURE_LIMIT` + prefix)."""

    __slots__ = ("request", "response")

    def __init__(self) -> None:
        self.request = bytearray()
        self.response = bytearray()

    @staticmethod
    def add(buffer: bytearray, payload: bytes) -> None:
        room = CAPTURE_LIMIT + 5 - len(buffer)
        if room > 0:
            buffer += payload[:room]


def first_message(data: bytes | bytearray) -> bytes | bytearray:
    """The first gRPC message's body; `data` itself (logged by size only) when it is
    compressed or incomplete."""
    if len(data) < 5 or data[0] != 0:  # compressed (flag 1): not decoded here
        return data
    length = int.from_bytes(data[1:5], "big")
    if len(data) < 5 + length:
        return data
    return bytes(data[5 : 5 + length])


def decoded(
    entry: ToolEntry | None, service: str, method: str, data: bytes | bytearray, output: bool
) -> Message | bytes | bytearray:
    """The message `data` holds, decoded with the tool's descriptors; raw bytes when that is
    not possible (unknown tool or method, compressed, truncated or malformed)."""
    body = first_message(data)
    if entry is None or body is data:
        return data
    try:
        shape = entry.pool.FindServiceByName(service).methods_by_name[method]
        descriptor = shape.output_type if output else shape.input_type
        message = message_factory.GetMessageClass(descriptor)()
        message.ParseFromString(bytes(body))
    except (KeyError, DecodeError):
        return data
    return message
