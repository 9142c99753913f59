"""Structured logs of tool invocations: one JSON object per call, on one line.

A line (keys in this order; optional ones only when they have a value):

    {"ts": "2026-11-25T17:00:00.123Z", "event": "tool_call", "trace_id": "4bf9…",
     "tool": "echo", "method": "echo.v1.Echo/Echo", "status": "UNAVAILABLE", "code": 14,
     "attempts": 2, "duration_ms": 12.345, "endpoint": "127.0.0.1:7001",
     "fallback": "echo-backup", "message": "…", "request": {…}, "response": {…}}

`trace_id` is present when the call was traced (join logs to traces with it); `duration_ms`
is the call as the agent experienced it. Payloads are logged only when `PayloadLogging` is
given: fields whose name is listed are replaced by "[REDACTED]" at any depth (names compared
without case, `_` or `-`, so `api_key`, `apiKey` and `API-KEY` are one name), then the JSON
is cut at `max_bytes` (the line then carries `request_truncated` and `request_bytes`).
Undecoded message bytes cannot be redacted, so only their size is ever logged.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

from mesh.telemetry.tracing import code_name

LOGGER_NAME = "toolmesh.invocations"
REDACTED = "[REDACTED]"
DEFAULT_REDACTED_FIELDS = frozenset(
    {"password", "passwd", "secret", "token", "access_token", "api_key", "authorization"}
)

Payload = Mapping[str, Any] | Message | str | bytes | bytearray | memoryview | None


@dataclass(frozen=True, slots=True)
class PayloadLogging:
    """Request and response payloads in the log: at most `max_bytes` of JSON each (UTF-8),
    with the fields named in `redact` hidden."""

    max_bytes: int = 2048
    redact: frozenset[str] = field(default=DEFAULT_REDACTED_FIELDS)

    def __post_init__(self) -> None:
        if self.max_bytes < 16:
            raise ValueError(f"payload logging max_bytes must be >= 16 (got {self.max_bytes})")
        object.__setattr__(self, "redact", frozenset(_normal(name) for name in self.redact))


class InvocationLog:
    """Writes one JSON line per tool invocation to `logger` at `level`.

    `enabled` is False when the logger would drop the line: check it before gathering what
    `record` needs. `clock` gives Unix seconds (injected by tests).
    """

    def __init__(
        self,
        logger: logging.Logger | None = None,
        *,
        level: int = logging.INFO,
        payloads: PayloadLogging | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.logger = logger if logger is not None else logging.getLogger(LOGGER_NAME)
        self.level = level
        self.payloads = payloads
        self._clock = clock

    @classmethod
    def to_stream(cls, stream: IO[str] | None = None, **options: Any) -> InvocationLog:
        """An InvocationLog whose lines go, bare, to `stream` (default stderr) and nowhere
        else (the logger does not propagate, so no other handler prefixes them)."""
        logger = logging.getLogger(LOGGER_NAME)
        handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.handlers = [handler]
        logger.propagate = False
        logger.setLevel(options.get("level", logging.INFO))
        return cls(logger, **options)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(self.level)

    def record(
        self,
        *,
        tool: str,
        method: str,
        code: int,
        duration_s: float,
        attempts: int,
        trace_id: str = "",
        endpoint: str = "",
        fallback: str = "",
        message: str = "",
        request: Payload = None,
        response: Payload = None,
    ) -> None:
        """Logs one invocation: gRPC `code`, `duration_s` seconds, `attempts` sent; the
        payloads only when payload logging is on."""
        if not self.logger.isEnabledFor(self.level):
            return
        self.logger.log(
            self.level,
            self.line(
                tool=tool,
                method=method,
                code=code,
                duration_s=duration_s,
                attempts=attempts,
                trace_id=trace_id,
                endpoint=endpoint,
                fallback=fallback,
                message=message,
                request=request,
                response=response,
            ),
        )

    def line(
        self,
        *,
        tool: str,
        method: str,
        code: int,
        duration_s: float,
        attempts: int,
        trace_id: str = "",
        endpoint: str = "",
        fallback: str = "",
        message: str = "",
        request: Payload = None,
        response: Payload = None,
    ) -> str:
        """The JSON line `record` writes."""
        entry: dict[str, Any] = {
            "ts": _timestamp(self._clock()),
            "event": "tool_call",
        }
        if trace_id:
            entry["trace_id"] = trace_id
        entry.update(
            tool=tool,
            method=method.removeprefix("/"),
            status=code_name(code),
            code=code,
            attempts=attempts,
            duration_ms=round(duration_s * 1000, 3),
        )
        if endpoint:
            entry["endpoint"] = endpoint
        if fallback:
            entry["fallback"] = fallback
        if message:
            entry["message"] = message
        payloads = self.payloads
        if payloads is not None:
            for name, payload in (("request", request), ("response", response)):
                if payload is not None:
                    _add_payload(entry, name, payload, payloads)
        return json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str)


def _timestamp(seconds: float) -> str:
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _normal(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def _add_payload(entry: dict[str, Any], name: str, payload: Payload, rules: PayloadLogging) -> None:
    if isinstance(payload, bytes | bytearray | memoryview):
        entry[f"{name}_bytes"] = len(payload)  # undecoded: its content could not be redacted
        return
    if isinstance(payload, Message):
        value: Any = MessageToDict(payload, preserving_proto_field_name=True)
    elif isinstance(payload, str):
        try:
            value = json.loads(payload)
        except ValueError:
            entry[f"{name}_bytes"] = len(payload.encode())  # not JSON: cannot be redacted
            return
    else:
        value = payload
    value = _redacted(value, rules.redact)
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    data = text.encode()
    if len(data) <= rules.max_bytes:
        entry[name] = value
        return
    entry[name] = data[: rules.max_bytes].decode("utf-8", "ignore")  # whole characters
    entry[f"{name}_truncated"] = True
    entry[f"{name}_bytes"] = len(data)


def _redacted(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, Mapping):
        return {
            key: REDACTED if _normal(str(key)) in names else _redacted(item, names)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redacted(item, names) for item in value]
    return value
