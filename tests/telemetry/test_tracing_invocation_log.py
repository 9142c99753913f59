"""One JSON line per tool invocation, joinable to its trace; payloads capped and redacted."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from google.protobuf import struct_pb2

from mesh.telemetry.logs import LOGGER_NAME, REDACTED, InvocationLog, PayloadLogging

NOW = 1_795_000_000.25  # 2026-11-18T11:06:40.250Z


def parse(line: str) -> dict[str, Any]:
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_a_line_has_the_call_in_a_fixed_order() -> None:
    log = InvocationLog(clock=lambda: NOW)
    line = log.line(
        tool="echo",
        method="/echo.v1.Echo/Echo",
        code=14,
        duration_s=0.0123456,
        attempts=2,
        trace_id="4bf92f3577b34da6a3ce929d0e0e4736",
        endpoint="127.0.0.1:7001",
        fallback="echo-backup",
        message="connection refused",
    )
    entry = parse(line)
    assert list(entry) == [
        "ts",
        "event",
        "trace_id",
        "tool",
        "method",
        "status",
        "code",
        "attempts",
        "duration_ms",
        "endpoint",
        "fallback",
        "message",
    ]
    assert entry["ts"] == "2026-11-18T11:06:40.250Z"
    assert entry["event"] == "tool_call"
    assert entry["method"] == "echo.v1.Echo/Echo"  # as rpc.method in the traces
    assert (entry["status"], entry["code"]) == ("UNAVAILABLE", 14)
    assert entry["duration_ms"] == 12.346
    assert entry["attempts"] == 2


def test_optional_fields_are_left_out_and_payloads_are_off_by_default() -> None:
    entry = parse(
        InvocationLog(clock=lambda: NOW).line(
            tool="echo",
            method="echo.v1.Echo/Echo",
            code=0,
            duration_s=0.001,
            attempts=1,
            request={"password": "hunter2"},
        )
    )
    assert set(entry) == {
        "ts",
        "event",
        "tool",
        "method",
        "status",
        "code",
        "attempts",
        "duration_ms",
    }
    assert "hunter2" not in json.dumps(entry)


def test_payload_fields_are_redacted_by_name_at_any_depth() -> None:
    log = InvocationLog(payloads=PayloadLogging(redact=frozenset({"password", "api_key"})))
    request = {
        "user": "ada",
        "Password": "hunter2",
        "nested": {"apiKey": "k-1", "items": [{"API-KEY": "k-2", "keep": 1}]},
    }
    entry = parse(log.line(tool="t", method="m", code=0, duration_s=0, attempts=1, request=request))
    assert entry["request"] == {
        "user": "ada",
        "Password": REDACTED,
        "nested": {"apiKey": REDACTED, "items": [{"API-KEY": REDACTED, "keep": 1}]},
    }
    assert request["Password"] == "hunter2"  # the caller's data is left alone


def test_protobuf_and_json_text_payloads_are_redacted_too() -> None:
    log = InvocationLog(payloads=PayloadLogging())
    message = struct_pb2.Struct()
    message.update({"token": "t-1", "text": "hello"})
    entry = parse(
        log.line(
            tool="t",
            method="m",
            code=0,
            duration_s=0,
            attempts=1,
            request=message,
            response='{"secret": "s", "ok": true}',
        )
    )
    assert entry["request"] == {"token": REDACTED, "text": "hello"}
    assert entry["response"] == {"secret": REDACTED, "ok": True}


def test_undecoded_bytes_and_non_json_text_are_only_measured() -> None:
    log = InvocationLog(payloads=PayloadLogging())
    entry = parse(
        log.line(
            tool="t",
            method="m",
            code=0,
            duration_s=0,
            attempts=1,
            request=b"\x00\x01password=hunter2",
            response="password=hunter2",
        )
    )
    assert entry["request_bytes"] == 18
    assert entry["response_bytes"] == 16
    assert "hunter2" not in json.dumps(entry)


def test_large_payloads_are_cut_at_the_cap_on_a_character_boundary() -> None:
    log = InvocationLog(payloads=PayloadLogging(max_bytes=64))
    big = {"text": "é" * 100}  # two bytes per character
    entry = parse(log.line(tool="t", method="m", code=0, duration_s=0, attempts=1, request=big))
    assert entry["request_truncated"] is True
    assert entry["request_bytes"] == len(
        json.dumps(big, ensure_ascii=False).replace(" ", "").encode()
    )
    assert len(entry["request"].encode()) <= 64
    assert entry["request"].startswith('{"text":"éé')
    small = {"text": "short"}
    entry = parse(log.line(tool="t", method="m", code=0, duration_s=0, attempts=1, request=small))
    assert entry["request"] == small
    assert "request_truncated" not in entry


def test_redaction_applies_before_the_cut() -> None:
    log = InvocationLog(payloads=PayloadLogging(max_bytes=32, redact=frozenset({"token"})))
    entry = parse(
        log.line(
            tool="t",
            method="m",
            code=0,
            duration_s=0,
            attempts=1,
            request={"token": "x" * 200, "other": "y" * 200},
        )
    )
    assert "xxx" not in entry["request"]
    assert entry["request"].startswith('{"token":"[REDACTED]"')


def test_records_go_to_the_logger_only_when_it_is_enabled(caplog: pytest.LogCaptureFixture) -> None:
    log = InvocationLog(clock=lambda: NOW)
    caplog.set_level(logging.WARNING, logger=LOGGER_NAME)
    assert not log.enabled
    log.record(tool="echo", method="m", code=0, duration_s=0.001, attempts=1)
    assert caplog.records == []
    caplog.set_level(logging.INFO, logger=LOGGER_NAME)
    assert log.enabled
    log.record(tool="echo", method="m", code=0, duration_s=0.001, attempts=1, trace_id="ab")
    (record,) = caplog.records
    assert record.name == LOGGER_NAME
    assert parse(record.getMessage())["trace_id"] == "ab"


def test_to_stream_writes_bare_json_lines() -> None:
    stream = io.StringIO()
    logger = logging.getLogger(LOGGER_NAME)
    saved = (logger.handlers[:], logger.propagate, logger.level)
    try:
        log = InvocationLog.to_stream(stream, clock=lambda: NOW)
        log.record(tool="echo", method="m", code=0, duration_s=0.002, attempts=1)
        log.record(tool="echo", method="m", code=4, duration_s=1.5, attempts=3)
    finally:
        logger.handlers, logger.propagate, logger.level = saved
    lines = stream.getvalue().splitlines()
    assert [parse(line)["status"] for line in lines] == ["OK", "DEADLINE_EXCEEDED"]


def test_a_tiny_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes must be >= 16"):
        PayloadLogging(max_bytes=4)
