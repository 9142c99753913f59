"""`python -m bench` runs every benchmark with the shared flags and returns the worst status."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import bench.__main__ as entry
from bench import forwarding, resilience, telemetry


def _fake(seen: dict[str, list[str]], name: str, status: int) -> Callable[..., int]:
    """A benchmark's main that records its arguments (in call order) and returns `status`."""

    def run(argv: Sequence[str] | None = None) -> int:
        seen[name] = list(argv or [])
        return status

    return run


def test_both_run_with_the_shared_flags_and_the_worse_status_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(forwarding, "main", _fake(seen, "forwarding", 2))
    monkeypatch.setattr(resilience, "main", _fake(seen, "resilience", 1))
    monkeypatch.setattr(telemetry, "main", _fake(seen, "telemetry", 0))
    assert entry.main(["--quick", "--write", "B.md", "--profile"]) == 2
    assert seen["forwarding"] == ["--quick", "--write", "B.md", "--profile"]
    assert seen["resilience"] == ["--quick", "--write", "B.md"]  # it has no profile
    assert seen["telemetry"] == ["--quick", "--write", "B.md", "--profile"]


def test_the_second_runs_even_when_the_first_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(forwarding, "main", _fake(seen, "forwarding", 1))
    monkeypatch.setattr(resilience, "main", _fake(seen, "resilience", 0))
    monkeypatch.setattr(telemetry, "main", _fake(seen, "telemetry", 0))
    assert entry.main([]) == 1
    assert list(seen) == ["forwarding", "resilience", "telemetry"]
