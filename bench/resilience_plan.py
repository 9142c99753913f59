"""What the resilience benchmark measures: scenarios of misbehaving instances, and the
sidecar variants (policy or none) each scenario is run through.

A scenario registers the echo tool with several instances, one of them slow or flaky, and
offers a fixed rate of plain Echo calls; each variant is a registry and a sidecar of its own
(the policy is a tool's, so two policies need two registries), and the variants take turns
round by round. Policies are written in the YAML form users write (`toolmesh policy set`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.h2load import Load
from bench.instances import InstanceSpec

PAYLOAD_BYTES = 256
SLOW_LATENCY_MS = 50
HEDGE_DELAY_MS = 10
FAIL_RATE = 0.5
SEED = 20261125  # instance i draws its failures from SEED + i
SLOW_KEY = "slow-instance"
FAILING_KEY = "failing-instance"


@dataclass(frozen=True, slots=True)
class Variant:
    """How the calls go through the sidecar: with `policies` (the tool's policy from
    `policy_yaml`, or the defaults when it is empty) or plain forwarding (`--no-policies`)."""

    name: str
    policies: bool
    policy_yaml: str = ""

    def __post_init__(self) -> None:
        if self.policy_yaml and not self.policies:
            raise ValueError(f"variant {self.name!r}: a policy needs a sidecar with policies")


@dataclass(frozen=True, slots=True)
class ResilienceScenario:
    """Instances of the echo tool, a load, and the variants compared under it.

    `failures_expected` False: every call must succeed, as in the forwarding benchmark (a
    run with a failed call is INVALID). True: failed calls are counted, not refused.
    """

    key: str  # short name, used in section and file names
    title: str
    instances: tuple[InstanceSpec, ...]
    variants: tuple[Variant, ...]
    load: Load
    failures_expected: bool
    payload_bytes: int = PAYLOAD_BYTES

    def __post_init__(self) -> None:
        # Successes are counted from DATA bytes, which needs one answer size for all.
        sizes = {len(spec.label.encode()) for spec in self.instances}
        if len(sizes) != 1:
            raise ValueError(
                f"scenario {self.key!r}: instance labels must have one length (answers of one"
                f" size), got {[spec.label for spec in self.instances]}"
            )


@dataclass(frozen=True, slots=True)
class ResiliencePlan:
    name: str
    scenarios: tuple[ResilienceScenario, ...]
    rounds: int
    warmup_requests: int  # per variant, at the scenario's rate, before its rounds


NO_POLICY = Variant("no policy (round robin)", policies=False)
DEFAULT_POLICY = Variant("default policy", policies=True)
# Echo is NO_SIDE_EFFECTS in its proto, hence idempotent; said again so the variants do not
# depend on descriptor options surviving registration.
_HEDGING_YAML = (
    f"hedging: {{enabled: true, delay: {HEDGE_DELAY_MS}ms}}\n"
    "methods: {Echo: {idempotent: true}}\n"
)
HEDGING = Variant(f"hedging after {HEDGE_DELAY_MS} ms", policies=True, policy_yaml=_HEDGING_YAML)
# Hedges are paid from the retry budget (default: 20 % of calls + 10/s). When the slow
# instance takes a large share of first attempts, that bounds the calls hedging can rescue;
# this variant shows what a larger budget buys.
WIDE_BUDGET_RATIO = 0.5
HEDGING_WIDE_BUDGET = Variant(
    f"hedging after {HEDGE_DELAY_MS} ms, retry budget {WIDE_BUDGET_RATIO:.0%}".replace("%", " %"),
    policies=True,
    policy_yaml=_HEDGING_YAML + f"retry: {{budget_ratio: {WIDE_BUDGET_RATIO}}}\n",
)
# A balancer that learns each instance's latency keeps first attempts off the slow one.
# With hedging, the slow instance's attempts are hedged away and cancelled, so all it shows
# is a lower bound (the hedge delay + the fast answer), which in-flight counts can outweigh.
_PEAK_EWMA_YAML = "load_balancing: peak_ewma\n"
PEAK_EWMA = Variant("peak EWMA balancing", policies=True, policy_yaml=_PEAK_EWMA_YAML)
PEAK_EWMA_HEDGING = Variant(
    f"peak EWMA, hedging after {HEDGE_DELAY_MS} ms",
    policies=True,
    policy_yaml=_PEAK_EWMA_YAML + _HEDGING_YAML,
)


def _load(requests: int) -> Load:
    # 200 req/s over 4 connections; 16 streams each so calls held by the slow instance never
    # keep the next ones from starting: the offered rate stays fixed.
    return Load(clients=4, streams_per_client=16, requests=requests, rps_per_client=50)


def _scenarios(requests: int) -> tuple[ResilienceScenario, ...]:
    slow = ResilienceScenario(
        key=SLOW_KEY,
        title=f"one of two instances answers {SLOW_LATENCY_MS} ms late",
        instances=(InstanceSpec("fast"), InstanceSpec("slow", latency_ms=SLOW_LATENCY_MS)),
        variants=(
            NO_POLICY,
            DEFAULT_POLICY,
            HEDGING,
            HEDGING_WIDE_BUDGET,
            PEAK_EWMA,
            PEAK_EWMA_HEDGING,
        ),
        load=_load(requests),
        failures_expected=False,
    )
    failing = ResilienceScenario(
        key=FAILING_KEY,
        title=f"one of two instances fails {FAIL_RATE:.0%} of its calls with UNAVAILABLE",
        instances=(InstanceSpec("sound"), InstanceSpec("flaky", fail_rate=FAIL_RATE)),
        variants=(NO_POLICY, DEFAULT_POLICY),
        load=_load(requests),
        failures_expected=True,
    )
    return slow, failing


DEFAULT_RESILIENCE_PLAN = ResiliencePlan(
    "default", _scenarios(requests=2_000), rounds=3, warmup_requests=200
)
QUICK_RESILIENCE_PLAN = ResiliencePlan(
    "quick", _scenarios(requests=400), rounds=1, warmup_requests=50
)
