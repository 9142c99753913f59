"""What one benchmark run measures: scenarios (payload x load mode), rounds, warm-up.

The default plan takes a few minutes on two cores; the quick plan is a smoke run whose
figures mean little but exercise every step.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.h2load import Load

PAYLOADS = (256, 16 * 1024)  # request (and response) payload bytes
FIXED_RATE_CLIENTS = 5
FIXED_RATE_PER_CLIENT = 100  # h2load's --rps is per client: 5 x 100 = 500 req/s


@dataclass(frozen=True, slots=True)
class Scenario:
    """One payload size under one load shape."""

    payload_bytes: int
    load: Load

    @property
    def closed_loop(self) -> bool:
        return self.load.rps_per_client is None

    @property
    def mode(self) -> str:
        """`closed` or `N/s` (the offered rate)."""
        offered = self.load.offered_rps
        return "closed" if offered is None else f"{offered}/s"

    @property
    def payload_label(self) -> str:
        size = self.payload_bytes
        return f"{size // 1024} KiB" if size >= 1024 and size % 1024 == 0 else f"{size} B"


@dataclass(frozen=True, slots=True)
class Plan:
    """Scenarios run in order; within each, `rounds` rounds of every target, interleaved."""

    name: str
    scenarios: tuple[Scenario, ...]
    rounds: int
    warmup: Load  # run once per target and payload before measuring, not reported


def _scenarios(closed_requests: int, fixed_requests: int) -> tuple[Scenario, ...]:
    closed = Load(clients=4, streams_per_client=16, requests=closed_requests)
    # Several streams per client so a slow response never holds back the next request:
    # the offered rate stays fixed whatever the latency.
    fixed = Load(
        clients=FIXED_RATE_CLIENTS,
        streams_per_client=8,
        requests=fixed_requests,
        rps_per_client=FIXED_RATE_PER_CLIENT,
    )
    return tuple(Scenario(size, load) for load in (closed, fixed) for size in PAYLOADS)


DEFAULT_PLAN = Plan(
    name="default",
    scenarios=_scenarios(closed_requests=20_000, fixed_requests=3_000),
    rounds=3,
    warmup=Load(clients=4, streams_per_client=16, requests=2_000),
)
QUICK_PLAN = Plan(
    name="quick",
    scenarios=_scenarios(closed_requests=2_000, fixed_requests=500),
    rounds=1,
    warmup=Load(clients=4, streams_per_client=16, requests=200),
)
