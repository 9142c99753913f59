"""SETTINGS parameters (RFC 9113 §6.5.2): what each side advertises and how peers' are checked."""

from __future__ import annotations

from dataclasses import dataclass

from sidecar.h2.errors import ConnectionError_, ErrorCode
from sidecar.h2.frames import DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE, MAX_WINDOW

HEADER_TABLE_SIZE = 0x1
ENABLE_PUSH = 0x2
MAX_CONCURRENT_STREAMS = 0x3
INITIAL_WINDOW_SIZE = 0x4
MAX_FRAME_SIZE = 0x5
MAX_HEADER_LIST_SIZE = 0x6

DEFAULT_WINDOW = 65_535  # §6.9.2: every window starts here until SETTINGS say otherwise
UNLIMITED = 2**31 - 1


@dataclass(frozen=True, slots=True)
class LocalSettings:
    """What this side advertises on a connection, and the limits it enforces."""

    stream_window: int = 1 << 20  # per-stream receive window (bytes): bounds buffering per call
    connection_window: int = 8 << 20  # connection receive window (bytes): bounds a connection
    max_concurrent_streams: int = UNLIMITED  # streams the peer may open
    max_header_list_size: int = 64 << 10  # decoded header list (RFC 7541 §4.1 size)
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    enable_push: bool = False

    def frame_values(self, *, client: bool) -> dict[int, int]:
        values = {
            INITIAL_WINDOW_SIZE: self.stream_window,
            MAX_FRAME_SIZE: self.max_frame_size,
            MAX_HEADER_LIST_SIZE: self.max_header_list_size,
        }
        if client:
            values[ENABLE_PUSH] = 0
        if self.max_concurrent_streams != UNLIMITED:
            values[MAX_CONCURRENT_STREAMS] = self.max_concurrent_streams
        return values

    @property
    def header_block_limit(self) -> int:
        """Largest encoded header block (all CONTINUATIONs) accepted before decoding."""
        return self.max_header_list_size * 2

    @property
    def decode_limit(self) -> int:
        """Largest decoded header list before the decoder gives up (a connection error)."""
        return self.max_header_list_size * 4


@dataclass(slots=True)
class PeerSettings:
    """What the peer advertised; starts at the protocol defaults."""

    initial_window: int = DEFAULT_WINDOW
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    max_concurrent_streams: int = UNLIMITED
    max_header_list_size: int = UNLIMITED
    enable_push: bool = True

    def apply(self, key: int, value: int) -> int | None:
        """Applies one parameter; returns the change of the initial window when it changed."""
        if key == INITIAL_WINDOW_SIZE:
            if value > MAX_WINDOW:
                raise ConnectionError_(
                    ErrorCode.FLOW_CONTROL_ERROR, f"SETTINGS_INITIAL_WINDOW_SIZE {value} too large"
                )
            delta = value - self.initial_window
            self.initial_window = value
            return delta
        if key == MAX_FRAME_SIZE:
            if not DEFAULT_MAX_FRAME_SIZE <= value <= MAX_MAX_FRAME_SIZE:
                raise ConnectionError_(
                    ErrorCode.PROTOCOL_ERROR, f"SETTINGS_MAX_FRAME_SIZE {value} out of range"
                )
            self.max_frame_size = value
        elif key == ENABLE_PUSH:
            if value > 1:
                raise ConnectionError_(
                    ErrorCode.PROTOCOL_ERROR, f"SETTINGS_ENABLE_PUSH {value} is not 0 or 1"
                )
            self.enable_push = bool(value)
        elif key == MAX_CONCURRENT_STREAMS:
            self.max_concurrent_streams = value
        elif key == MAX_HEADER_LIST_SIZE:
            self.max_header_list_size = value
        # HEADER_TABLE_SIZE needs nothing: our encoder never uses the dynamic table.
        # Unknown parameters must be ignored (§6.5.2).
        return None
