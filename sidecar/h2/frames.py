"""HTTP/2 framing (RFC 9113 §4, §6): an incremental parser and frame serializers.

The parser checks what the frame layer alone can check (lengths, stream ids, padding) and
raises ConnectionError_ for anything malformed; what frames mean is the connection's concern.
Serializers return `bytes` ready to write; DATA payloads are passed through without copying
where the caller gives a list to extend.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from sidecar.h2.errors import ConnectionError_, ErrorCode

DATA = 0x0
HEADERS = 0x1
PRIORITY = 0x2
RST_STREAM = 0x3
SETTINGS = 0x4
PUSH_PROMISE = 0x5
PING = 0x6
GOAWAY = 0x7
WINDOW_UPDATE = 0x8
CONTINUATION = 0x9

FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
HEADER_LENGTH = 9
DEFAULT_MAX_FRAME_SIZE = 16_384
MAX_MAX_FRAME_SIZE = 16_777_215
MAX_WINDOW = 2**31 - 1
MAX_STREAM_ID = 2**31 - 1

_HEADER = struct.Struct(">HBBBL")  # 24-bit length as (high 16, low 8), type, flags, stream id
_U32 = struct.Struct(">L")
_GOAWAY = struct.Struct(">LL")


class Frame:
    """One parsed frame. `payload` excludes padding (and priority fields of HEADERS).

    `flow_length` is the whole payload length as it counts against flow control (§6.9.1),
    padding included.
    """

    __slots__ = ("flags", "flow_length", "payload", "stream_id", "type")

    def __init__(
        self, type_: int, flags: int, stream_id: int, payload: bytes, flow_length: int
    ) -> None:
        self.type = type_
        self.flags = flags
        self.stream_id = stream_id
        self.payload = payload
        self.flow_length = flow_length

    def __repr__(self) -> str:
        return (
            f"Frame(type={self.type}, flags={self.flags:#x}, stream={self.stream_id},"
            f" len={len(self.payload)})"
        )


class FrameParser:
    """Splits a byte stream into frames. Feed bytes with `feed`, iterate the complete frames.

    `max_frame_size` is the SETTINGS_MAX_FRAME_SIZE this side advertised: a longer frame is a
    FRAME_SIZE_ERROR (§4.2).
    """

    __slots__ = ("_buffer", "max_frame_size")

    def __init__(self, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        self._buffer = b""
        self.max_frame_size = max_frame_size

    def feed(self, data: bytes) -> Iterator[Frame]:
        """Yields every frame completed by `data`; keeps the incomplete rest for later."""
        buffer = self._buffer + data if self._buffer else data
        position = 0
        end = len(buffer)
        unpack = _HEADER.unpack_from
        try:
            while end - position >= HEADER_LENGTH:
                high, low, type_, flags, stream_id = unpack(buffer, position)
                length = (high << 8) | low
                if length > self.max_frame_size:
                    raise ConnectionError_(
                        ErrorCode.FRAME_SIZE_ERROR,
                        f"frame of {length} bytes exceeds the maximum frame size"
                        f" {self.max_frame_size}",
                    )
                start = position + HEADER_LENGTH
                if end - start < length:
                    break
                payload = buffer[start : start + length]
                position = start + length
                yield _checked(type_, flags, stream_id & MAX_STREAM_ID, payload)
        finally:
            self._buffer = buffer[position:] if position < end else b""


def _checked(type_: int, flags: int, stream_id: int, payload: bytes) -> Frame:
    """Validates the frame layer's rules (§6) and strips padding/priority fields."""
    length = len(payload)
    if type_ in (DATA, HEADERS):
        if stream_id == 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, f"{_NAMES[type_]} frame on stream 0")
        body = payload
        if flags & FLAG_PADDED:
            if length < 1:
                raise ConnectionError_(
                    ErrorCode.FRAME_SIZE_ERROR, "padded frame without a pad length"
                )
            pad = payload[0]
            if pad >= length:
                raise ConnectionError_(
                    ErrorCode.PROTOCOL_ERROR, "padding exceeds the frame payload"
                )
            body = payload[1 : length - pad]
        if type_ == HEADERS and flags & FLAG_PRIORITY:
            if len(body) < 5:
                raise ConnectionError_(
                    ErrorCode.FRAME_SIZE_ERROR, "HEADERS priority fields truncated"
                )
            body = body[5:]
        return Frame(type_, flags, stream_id, body, length)
    if type_ == CONTINUATION:
        if stream_id == 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, "CONTINUATION frame on stream 0")
    elif type_ == SETTINGS:
        if stream_id != 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, "SETTINGS frame on a stream")
        if flags & FLAG_ACK and length:
            raise ConnectionError_(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload")
        if length % 6:
            raise ConnectionError_(
                ErrorCode.FRAME_SIZE_ERROR, "SETTINGS payload not a multiple of 6"
            )
    elif type_ == WINDOW_UPDATE:
        if length != 4:
            raise ConnectionError_(
                ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE payload is not 4 bytes"
            )
    elif type_ == RST_STREAM:
        if stream_id == 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, "RST_STREAM frame on stream 0")
        if length != 4:
            raise ConnectionError_(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM payload is not 4 bytes")
    elif type_ == PING:
        if stream_id != 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, "PING frame on a stream")
        if length != 8:
            raise ConnectionError_(ErrorCode.FRAME_SIZE_ERROR, "PING payload is not 8 bytes")
    elif type_ == GOAWAY:
        if stream_id != 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, "GOAWAY frame on a stream")
        if length < 8:
            raise ConnectionError_(
                ErrorCode.FRAME_SIZE_ERROR, "GOAWAY payload shorter than 8 bytes"
            )
    elif type_ == PRIORITY:
        if stream_id == 0:
            raise ConnectionError_(ErrorCode.PROTOCOL_ERROR, "PRIORITY frame on stream 0")
        if length != 5:
            # §6.3: a stream error, but we treat frame-size errors alike for simplicity.
            raise ConnectionError_(ErrorCode.FRAME_SIZE_ERROR, "PRIORITY payload is not 5 bytes")
    return Frame(type_, flags, stream_id, payload, length)


_NAMES = {
    DATA: "DATA",
    HEADERS: "HEADERS",
    PRIORITY: "PRIORITY",
    RST_STREAM: "RST_STREAM",
    SETTINGS: "SETTINGS",
    PUSH_PROMISE: "PUSH_PROMISE",
    PING: "PING",
    GOAWAY: "GOAWAY",
    WINDOW_UPDATE: "WINDOW_UPDATE",
    CONTINUATION: "CONTINUATION",
}


def frame_header(length: int, type_: int, flags: int, stream_id: int) -> bytes:
    return _HEADER.pack(length >> 8, length & 0xFF, type_, flags, stream_id)


def data_frame(stream_id: int, payload: bytes, end_stream: bool = False) -> bytes:
    return (
        frame_header(len(payload), DATA, FLAG_END_STREAM if end_stream else 0, stream_id) + payload
    )


def headers_frames(stream_id: int, block: bytes, end_stream: bool, max_frame_size: int) -> bytes:
    """A HEADERS frame, followed by CONTINUATION frames when `block` exceeds one frame."""
    end_flag = FLAG_END_STREAM if end_stream else 0
    if len(block) <= max_frame_size:
        return frame_header(len(block), HEADERS, end_flag | FLAG_END_HEADERS, stream_id) + block
    parts = [block[i : i + max_frame_size] for i in range(0, len(block), max_frame_size)]
    out = [frame_header(len(parts[0]), HEADERS, end_flag, stream_id), parts[0]]
    for index, part in enumerate(parts[1:], start=2):
        last = index == len(parts)
        out.append(
            frame_header(len(part), CONTINUATION, FLAG_END_HEADERS if last else 0, stream_id)
        )
        out.append(part)
    return b"".join(out)


def rst_stream_frame(stream_id: int, code: int) -> bytes:
    return frame_header(4, RST_STREAM, 0, stream_id) + _U32.pack(code)


def window_update_frame(stream_id: int, increment: int) -> bytes:
    return frame_header(4, WINDOW_UPDATE, 0, stream_id) + _U32.pack(increment)


def ping_frame(opaque: bytes, ack: bool = False) -> bytes:
    return frame_header(8, PING, FLAG_ACK if ack else 0, 0) + opaque


def goaway_frame(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return frame_header(8 + len(debug), GOAWAY, 0, 0) + _GOAWAY.pack(last_stream_id, code) + debug


def settings_frame(settings: dict[int, int] | None = None, ack: bool = False) -> bytes:
    if ack:
        return frame_header(0, SETTINGS, FLAG_ACK, 0)
    body = b"".join(struct.pack(">HL", key, value) for key, value in (settings or {}).items())
    return frame_header(len(body), SETTINGS, 0, 0) + body


def parse_u32(payload: bytes) -> int:
    return int(_U32.unpack_from(payload)[0])


def parse_goaway(payload: bytes) -> tuple[int, int, bytes]:
    """(last stream id, error code, debug data) of a GOAWAY payload."""
    last, code = _GOAWAY.unpack_from(payload)
    return last & MAX_STREAM_ID, code, payload[8:]


def parse_settings(payload: bytes) -> list[tuple[int, int]]:
    return [struct.unpack_from(">HL", payload, offset) for offset in range(0, len(payload), 6)]
