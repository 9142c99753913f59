"""Durations (`250ms`, `2s`) and the policy YAML that uses them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mesh.cli.durations import DurationError, format_duration, parse_duration
from mesh.cli.policy_yaml import PolicyError, load_policy_file, policy_from_mapping


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


def test_policy_timeout_maps_onto_tool_policy() -> None:
    policy = policy_from_mapping({"timeout": "250ms"}, where="p.yaml")
    assert policy.HasField("timeout")
    assert policy.timeout.ToTimedelta() == timedelta(milliseconds=250)


def test_empty_policy_leaves_timeout_unset() -> None:
    assert not policy_from_mapping({}, where="p.yaml").HasField("timeout")


def test_unknown_policy_key_is_named() -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_mapping({"timeout": "1s", "retries": 3}, where="p.yaml")
    assert str(caught.value) == "p.yaml: unknown policy key 'retries' (supported: timeout)"


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (2, "timeout must be a duration with a unit"),
        ("2 seconds", "timeout: '2 seconds' is not a duration"),
        ("0ms", "must be greater than zero"),
    ],
)
def test_bad_policy_timeout_is_refused(value: object, fragment: str) -> None:
    with pytest.raises(PolicyError, match=fragment):
        policy_from_mapping({"timeout": value}, where="p.yaml")


def test_policy_that_is_not_a_mapping_is_refused() -> None:
    with pytest.raises(PolicyError, match=r"p\.yaml: a policy must be a mapping"):
        policy_from_mapping(["timeout: 1s"], where="p.yaml")


def test_policy_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("timeout: 2s\n")
    assert load_policy_file(path).timeout.ToTimedelta() == timedelta(seconds=2)


def test_policy_file_with_broken_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("timeout: [2s\n")
    with pytest.raises(PolicyError, match=rf"{path}: not valid YAML"):
        load_policy_file(path)
