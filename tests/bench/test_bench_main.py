"""`python -m bench` runs both benchmarks with the shared flags and returns the worse status."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

import bench.__main__ as entry
from bench import forwarding, resilience


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
    assert entry.main(["--quick", "--write", "B.md", "--profile"]) == 2
    assert seen["forwarding"] == ["--quick", "--write", "B.md", "--profile"]
    assert seen["resilience"] == ["--quick", "--write", "B.md"]  # it has no profile


def test_the_second_runs_even_when_the_first_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, list[str]] = {}
    monkeypatch.setattr(forwarding, "main", _fake(seen, "forwarding", 1))
    monkeypatch.setattr(resilience, "main", _fake(seen, "resilience", 0))
    assert entry.main([]) == 1
    assert list(seen) == ["forwarding", "resilience"]
