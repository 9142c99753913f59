"""The resilience scenarios are well formed: valid policies, one answer size per scenario."""

from __future__ import annotations

import pytest

from bench.echo_calls import ECHO_METHOD_NAME, ECHO_SERVICE
from bench.h2load import Load
from bench.instances import InstanceSpec
from bench.mesh import call_timeout_s
from bench.resilience_plan import (
    DEFAULT_RESILIENCE_PLAN,
    HEDGING,
    QUICK_RESILIENCE_PLAN,
    ResiliencePlan,
    ResilienceScenario,
    Variant,
)
from mesh.config import load_policy_yaml, policy_from_proto


@pytest.mark.parametrize("plan", [DEFAULT_RESILIENCE_PLAN, QUICK_RESILIENCE_PLAN])
def test_every_variant_policy_is_accepted_by_the_policy_loader(plan: ResiliencePlan) -> None:
    for scenario in plan.scenarios:
        for variant in scenario.variants:
            policy = load_policy_yaml(variant.policy_yaml, where=variant.name, tool="echo")
            timeout = call_timeout_s(policy, ECHO_SERVICE, ECHO_METHOD_NAME)
            assert timeout == 30.0  # the default total timeout: the answers' size is known


def test_the_hedging_variant_hedges_echo_after_ten_milliseconds() -> None:
    policy = load_policy_yaml(HEDGING.policy_yaml, where="hedging", tool="echo")
    route = policy_from_proto(policy, tool="echo").for_method(ECHO_SERVICE, ECHO_METHOD_NAME)
    assert route.hedging.enabled and route.hedging.delay_s == pytest.approx(0.010)
    assert route.idempotent is True


def test_instance_labels_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        ResilienceScenario(
            key="x",
            title="x",
            instances=(InstanceSpec("a"), InstanceSpec("bb")),
            variants=(),
            load=Load(1, 1, 10, rps_per_client=10),
            failures_expected=False,
        )


def test_a_policy_without_policies_is_refused() -> None:
    with pytest.raises(ValueError, match="needs a sidecar with policies"):
        Variant("odd", policies=False, policy_yaml="timeout: 1s")


def test_the_load_is_a_fixed_rate_of_200_per_second() -> None:
    for scenario in DEFAULT_RESILIENCE_PLAN.scenarios:
        assert scenario.load.offered_rps == 200
        assert scenario.load.requests >= 2000
