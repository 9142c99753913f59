"""Round results for the tests of the forwarding tables: rounds of 1000 requests of one
latency each, with the echo tool's CPU fixed."""

from __future__ import annotations

from bench.plan import Scenario
from bench.rounds import RoundResult

REQUESTS = 1000
TOOL_CPU_S = 0.25
PROXY_RSS_BYTES = 50_000_000


def round_result(
    target: str,
    scenario: Scenario,
    rps: float,
    *,
    latency_us: int = 1000,
    proxy_cpu_s: float | None = None,
    problems: tuple[str, ...] = (),
) -> RoundResult:
    """Round 0 of `target` under `scenario`: REQUESTS requests of `latency_us` each at `rps`.
    A target with a proxy (`proxy_cpu_s` set) also has the proxy's RSS; direct has none."""
    return RoundResult(
        target=target,
        scenario=scenario,
        index=0,
        problems=problems,
        requests=REQUESTS,
        requests_per_s=rps,
        durations_us=(latency_us,) * REQUESTS,
        proxy_cpu_s=proxy_cpu_s,
        tool_cpu_s=TOOL_CPU_S,
        proxy_rss_bytes=PROXY_RSS_BYTES if proxy_cpu_s is not None else None,
    )
