"""Durations on the command line (`250ms`, `2s`) and policy files read from disk."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mesh.cli.durations import DurationError, format_duration, parse_duration
from mesh.cli.errors import UsageError
from mesh.cli.policy_yaml import load_policy_file
from mesh.config import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("250ms", timedelta(milliseconds=250)),
        ("2s", timedelta(seconds=2)),
        ("1m", timedelta(minutes=1)),
        ("1m30s", timedelta(seconds=90)),
        ("1.5h", timedelta(minutes=90)),
        ("1500us", timedelta(microseconds=1500)),
        (" 0.5s ", timedelta(milliseconds=500)),
    ],
)
def test_durations_with_units_parse(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "5x", "s", "2s3", "-1s", "1 s", "ms"])
def test_malformed_durations_are_refused_with_examples(text: str) -> None:
    with pytest.raises(DurationError, match=r"is not a duration \(e\.g\. 250ms"):
        parse_duration(text)


def test_zero_duration_is_refused() -> None:
    with pytest.raises(DurationError, match="must be greater than zero"):
        parse_duration("0s")


def test_bare_number_takes_the_unit_the_caller_documents() -> None:
    assert parse_duration("10", bare_unit="s") == timedelta(seconds=10)
    assert parse_duration("2.5", bare_unit="s") == timedelta(seconds=2.5)
    assert parse_duration("250ms", bare_unit="s") == timedelta(milliseconds=250)


def test_format_duration_is_short() -> None:
    assert format_duration(timedelta(milliseconds=250)) == "250ms"
    assert format_duration(timedelta(seconds=10)) == "10s"


def test_units_must_come_largest_first_and_once() -> None:
    for text in ("30s1m", "1s1s", "500ms1s"):
        with pytest.raises(DurationError, match="is not a duration"):
            parse_duration(text)


def test_policy_file_is_read_with_the_full_schema(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("timeout: 2s\nretry: {max_attempts: 2}\n")
    policy = load_policy_file(path)
    assert policy.timeout.ToTimedelta() == timedelta(seconds=2)
    assert policy.retry.max_attempts == 2


def test_policy_file_problems_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("timeout: 0s\nretries: 3\n")
    with pytest.raises(ConfigError) as caught:
        load_policy_file(path)
    assert caught.value.problems[0].startswith(f"{path}: retries: unknown key (known: timeout, ")
    assert caught.value.problems[1] == f"{path}: timeout must be > 0 (got 0s)"


def test_policy_file_refuses_a_fallback_to_its_own_tool(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("fallback: echo\n")
    with pytest.raises(ConfigError, match="'echo' is the tool itself"):
        load_policy_file(path, tool="echo")
    assert load_policy_file(path, tool="other").fallback == "echo"


def test_policy_file_with_broken_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("timeout: [2s\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML"):
        load_policy_file(path)


def test_unreadable_policy_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_bytes(b"timeout: \xff\n")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        load_policy_file(path)
