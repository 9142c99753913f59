"""What the benchmark expects of a sidecar follows from the policy, read by the policy code."""

from __future__ import annotations

from bench.mesh import call_timeout_s
from bench.rounds import Target, file_slug
from mesh.config import load_policy_yaml


def test_the_default_policy_gives_a_call_thirty_seconds() -> None:
    assert call_timeout_s(None, "echo.v1.Echo", "Echo") == 30.0


def test_a_per_method_timeout_applies_to_that_method_only() -> None:
    policy = load_policy_yaml("timeout: 5s\nmethods: {Echo: {timeout: 2s}}", where="t")
    assert call_timeout_s(policy, "echo.v1.Echo", "Echo") == 2.0
    assert call_timeout_s(policy, "echo.v1.Echo", "Write") == 5.0


def test_target_names_become_file_name_parts() -> None:
    assert Target("sidecar (no policy)", None).slug == "sidecar-no-policy"
    assert (
        file_slug("hedging after 10 ms, retry budget 50 %") == "hedging-after-10-ms-retry-budget-50"
    )
    assert file_slug("((") == "unnamed"
