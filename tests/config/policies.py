"""Policy messages for the tests: durations from seconds, and the issue's example."""

from __future__ import annotations

from google.protobuf import duration_pb2

from mesh.api.v1 import policy_pb2

ISSUE_EXAMPLE = """\
timeout: 5s                      # total per call, all attempts included
retry: {max_attempts: 3, initial_backoff: 1s, max_backoff: 4s, multiplier: 2,
        retryable_codes: [UNAVAILABLE]}
circuit_breaker: {consecutive_failures: 5, open_for: 60s, half_open_calls: 1}
fallback: other-tool             # a registered tool with the same method shapes
methods:                         # per-method overrides: short name or pkg.Service/Method
  Summarize: {timeout: 30s, retry: {max_attempts: 1}}
"""


def seconds(value: float) -> duration_pb2.Duration:
    """A Duration of `value` seconds (negative allowed: the validation must catch it)."""
    duration = duration_pb2.Duration()
    duration.FromNanoseconds(round(value * 1e9))
    return duration


def policy(**fields: object) -> policy_pb2.ToolPolicy:
    return policy_pb2.ToolPolicy(**fields)  # type: ignore[arg-type]
