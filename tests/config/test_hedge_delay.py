"""The hedge delay's two forms: a fixed `delay`, or `adaptive` (YAML `delay: adaptive`).

A method override chooses either one and so replaces the tool's choice; one level may not
set both. Covered here: the YAML form both ways, resolution, validation, and the round trip
through a registry and `toolmesh policy get`.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import descriptor_pb2

from mesh.api.v1 import policy_pb2 as pb
from mesh.api.v1 import registry_pb2
from mesh.cli.main import main
from mesh.config import (
    ConfigError,
    load_policy_yaml,
    policy_from_proto,
    policy_problems,
    policy_to_yaml,
    proto_from_mapping,
)
from mesh.config.policy import HedgeConfig
from tests.cli.conftest import MANIFESTS
from tests.config.policies import seconds
from tests.registry.registry_harness import Registry, make_tool

# The case the override exists for: the tool hedges after a fixed 20 ms, Search after its
# live p95.
FIXED_TOOL_ADAPTIVE_METHOD = """\
hedging: {enabled: true, delay: 20ms, max_hedges: 2}
methods:
  Search: {hedging: {delay: adaptive}}
"""


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as refused:
        load_policy_yaml(text, where="p.yaml")
    return refused.value.problems


# -- YAML form --------------------------------------------------------------------------------


def test_delay_adaptive_is_the_adaptive_field() -> None:
    message = load_policy_yaml(FIXED_TOOL_ADAPTIVE_METHOD, where="p.yaml")
    assert message.hedging == pb.HedgingPolicy(enabled=True, delay=seconds(0.02), max_hedges=2)
    search = message.methods["Search"].hedging
    assert search.HasField("adaptive") and search.adaptive is True
    assert not search.HasField("delay")


def test_the_adaptive_key_reads_the_same_as_delay_adaptive() -> None:
    spelled_as_delay = load_policy_yaml("hedging: {delay: adaptive}", where="p.yaml")
    spelled_as_key = load_policy_yaml("hedging: {adaptive: true}", where="p.yaml")
    assert (
        spelled_as_delay == spelled_as_key == pb.ToolPolicy(hedging=pb.HedgingPolicy(adaptive=True))
    )


def test_a_fixed_delay_reads_as_before() -> None:
    message = load_policy_yaml("hedging: {delay: 250ms}", where="p.yaml")
    assert message.hedging == pb.HedgingPolicy(delay=seconds(0.25))
    assert not message.hedging.HasField("adaptive")


EXPECTED = "p.yaml: hedging.delay must be a duration like 250ms or 'adaptive'"
BOTH_WRITTEN = "are both written; keep one of them (`delay: adaptive`)"
DELAY_SHAPE_CASES = [
    ("hedging: {delay: 20}", f"{EXPECTED} (got 20)"),
    ("hedging: {delay: fast}", f"{EXPECTED} (got 'fast')"),
    ("hedging: {delay: Adaptive}", f"{EXPECTED} (got 'Adaptive')"),
    ("hedging: {delay: [20ms]}", f"{EXPECTED} (got ['20ms'])"),
    (
        "hedging: {delay: 100000000000h}",
        "p.yaml: hedging.delay: duration '100000000000h' is too long (at most about 10,000 years)",
    ),
    (
        "methods: {Search: {hedging: {delay: adaptive, adaptive: true}}}",
        "p.yaml: methods.Search.hedging.delay: 'adaptive' and "
        f"methods.Search.hedging.adaptive {BOTH_WRITTEN}",
    ),
    (
        "hedging: {adaptive: yes please}",
        "p.yaml: hedging.adaptive must be true or false (got 'yes please')",
    ),
]


@pytest.mark.parametrize(
    ("text", "problem"), DELAY_SHAPE_CASES, ids=[case[0] for case in DELAY_SHAPE_CASES]
)
def test_a_bad_delay_is_refused_naming_the_field(text: str, problem: str) -> None:
    assert problems_of(text) == (problem,)


def test_delay_adaptive_beside_a_contradicting_key_reports_both() -> None:
    """Neither key wins by its place in the mapping."""
    assert problems_of("hedging: {adaptive: false, delay: adaptive}") == (
        f"p.yaml: hedging.delay: 'adaptive' and hedging.adaptive {BOTH_WRITTEN}",
        "p.yaml: hedging.adaptive must be true when set (got false); "
        "set hedging.delay for a fixed delay",
    )


def test_other_durations_keep_their_own_message() -> None:
    """`adaptive` is a word of `hedging.delay` only."""
    assert problems_of("hedging: {adaptive_floor: adaptive}") == (
        "p.yaml: hedging.adaptive_floor: 'adaptive' is not a duration (e.g. 250ms, 2s, 1m30s)",
    )


# -- resolution -------------------------------------------------------------------------------


def resolve(text: str) -> tuple[HedgeConfig, dict[str, HedgeConfig]]:
    config = policy_from_proto(load_policy_yaml(text, where="p.yaml"))
    return config.route.hedging, {key: route.hedging for key, route in config.methods.items()}


def test_a_method_goes_back_to_adaptive_under_a_fixed_tool_delay() -> None:
    tool, methods = resolve(FIXED_TOOL_ADAPTIVE_METHOD)
    assert tool == HedgeConfig(enabled=True, delay_s=0.02, max_hedges=2)
    # Only the delay is replaced: `enabled` and `max_hedges` are still inherited.
    assert methods["Search"] == HedgeConfig(enabled=True, delay_s=None, max_hedges=2)


def test_a_method_fixed_delay_overrides_an_inherited_adaptive() -> None:
    for tool_hedging in ("{enabled: true}", "{enabled: true, delay: adaptive}"):
        tool, methods = resolve(
            f"hedging: {tool_hedging}\nmethods: {{Search: {{hedging: {{delay: 5ms}}}}}}\n"
        )
        assert tool.delay_s is None, tool_hedging
        assert methods["Search"] == HedgeConfig(enabled=True, delay_s=0.005), tool_hedging


def test_a_method_that_sets_neither_inherits_either() -> None:
    fixed, fixed_methods = resolve(
        "hedging: {delay: 20ms}\nmethods: {Search: {hedging: {adaptive_floor: 5ms}}}\n"
    )
    assert fixed_methods["Search"].delay_s == fixed.delay_s == 0.02
    adaptive, adaptive_methods = resolve(
        "hedging: {adaptive: true}\nmethods: {Search: {hedging: {max_hedges: 3}}}\n"
    )
    assert adaptive_methods["Search"].delay_s is adaptive.delay_s is None


def test_adaptive_at_the_tool_is_the_default() -> None:
    tool, _ = resolve("hedging: {delay: adaptive}")
    assert tool == HedgeConfig()


def test_the_method_override_is_what_the_sidecar_looks_up() -> None:
    config = policy_from_proto(load_policy_yaml(FIXED_TOOL_ADAPTIVE_METHOD, where="p.yaml"))
    assert config.for_method("pkg.v1.Catalog", "Search").hedging.delay_s is None
    assert config.for_method("pkg.v1.Catalog", "Get").hedging.delay_s == 0.02


# -- validation -------------------------------------------------------------------------------


def test_both_forms_at_the_tool_are_refused() -> None:
    message = pb.ToolPolicy(hedging=pb.HedgingPolicy(delay=seconds(0.02), adaptive=True))
    assert policy_problems(message) == [
        "policy.hedging.delay and policy.hedging.adaptive are both set (got delay 20ms and "
        "adaptive true); set one: delay for a fixed delay, adaptive for the live p95"
    ]


def test_both_forms_in_a_method_are_refused_at_its_path() -> None:
    hedging = pb.HedgingPolicy(delay=seconds(1), adaptive=True)
    message = pb.ToolPolicy(methods={"Search": pb.MethodPolicy(hedging=hedging)})
    assert policy_problems(message, "") == [
        "methods.Search.hedging.delay and methods.Search.hedging.adaptive are both set "
        "(got delay 1s and adaptive true); set one: delay for a fixed delay, adaptive for the "
        "live p95"
    ]


def test_both_forms_written_in_yaml_are_refused() -> None:
    assert problems_of("hedging: {delay: 20ms, adaptive: true}") == (
        "p.yaml: hedging.delay and hedging.adaptive are both set (got delay 20ms and adaptive "
        "true); set one: delay for a fixed delay, adaptive for the live p95",
    )


def test_adaptive_false_is_refused() -> None:
    assert problems_of("methods: {Search: {hedging: {adaptive: false}}}") == (
        "p.yaml: methods.Search.hedging.adaptive must be true when set (got false); "
        "set methods.Search.hedging.delay for a fixed delay",
    )
    with_delay = pb.ToolPolicy(hedging=pb.HedgingPolicy(delay=seconds(0.02), adaptive=False))
    assert policy_problems(with_delay, "") == [
        "hedging.adaptive must be true when set (got false); set hedging.delay for a fixed delay"
    ]


def test_one_form_per_level_is_valid() -> None:
    message = pb.ToolPolicy(
        hedging=pb.HedgingPolicy(delay=seconds(0.02)),
        methods={"Search": pb.MethodPolicy(hedging=pb.HedgingPolicy(adaptive=True))},
    )
    assert policy_problems(message) == []
    flipped = pb.ToolPolicy(
        hedging=pb.HedgingPolicy(adaptive=True),
        methods={"Search": pb.MethodPolicy(hedging=pb.HedgingPolicy(delay=seconds(0.02)))},
    )
    assert policy_problems(flipped) == []


def test_a_zero_delay_beside_adaptive_reports_both_problems() -> None:
    message = pb.ToolPolicy(hedging=pb.HedgingPolicy(delay=seconds(0), adaptive=True))
    assert policy_problems(message, "") == [
        "hedging.delay must be > 0 (got 0s)",
        "hedging.delay and hedging.adaptive are both set (got delay 0s and adaptive true); "
        "set one: delay for a fixed delay, adaptive for the live p95",
    ]


# -- writing and the round trip ---------------------------------------------------------------


def test_adaptive_is_written_as_delay_adaptive_in_the_delays_place() -> None:
    message = load_policy_yaml(
        "hedging: {max_hedges: 2, adaptive: true, enabled: true}\n"
        "methods: {Search: {hedging: {adaptive: true}}}\n",
        where="p.yaml",
    )
    written = policy_to_yaml(message)
    assert written == (
        "hedging:\n"
        "  enabled: true\n"
        "  delay: adaptive\n"
        "  max_hedges: 2\n"
        "methods:\n"
        "  Search:\n"
        "    hedging:\n"
        "      delay: adaptive\n"
    )
    assert load_policy_yaml(written, where="written") == message


@pytest.mark.parametrize(
    "hedging",
    [
        pb.HedgingPolicy(delay=seconds(0.02), adaptive=True),
        pb.HedgingPolicy(adaptive=False),
        pb.HedgingPolicy(delay=seconds(0.02), adaptive=False),
    ],
    ids=["both", "adaptive-false", "delay-and-adaptive-false"],
)
def test_an_invalid_pair_is_written_as_it_is(hedging: pb.HedgingPolicy) -> None:
    """So that `policy get` of a stored message shows what the message holds."""
    message = pb.ToolPolicy(hedging=hedging)
    written = yaml.safe_load(policy_to_yaml(message))
    assert "adaptive" in written["hedging"]
    assert written["hedging"].get("delay") != "adaptive"
    back, problems = proto_from_mapping(written)
    assert (back, problems) == (message, [])


# -- through a registry -----------------------------------------------------------------------


async def test_the_registry_stores_an_adaptive_override_and_refuses_both_forms(
    registry_server: Registry, descriptor_sets: dict[str, descriptor_pb2.FileDescriptorSet]
) -> None:
    await registry_server.stub.RegisterTool(
        registry_pb2.RegisterToolRequest(tool=make_tool("echo", descriptor_sets["echo"]))
    )
    policy = load_policy_yaml(FIXED_TOOL_ADAPTIVE_METHOD.replace("Search", "Say"), where="p")
    await registry_server.stub.SetPolicy(registry_pb2.SetPolicyRequest(tool="echo", policy=policy))

    both = pb.ToolPolicy(
        methods={"Say": pb.MethodPolicy(hedging=pb.HedgingPolicy(delay=seconds(1), adaptive=True))}
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry_server.stub.SetPolicy(
            registry_pb2.SetPolicyRequest(tool="echo", policy=both)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details() == (
        "policy.methods.Say.hedging.delay and policy.methods.Say.hedging.adaptive are both set "
        "(got delay 1s and adaptive true); set one: delay for a fixed delay, adaptive for the "
        "live p95"
    )
    stored: registry_pb2.GetToolResponse = await registry_server.stub.GetTool(
        registry_pb2.GetToolRequest(name="echo")
    )
    assert stored.state.tool.policy == policy  # the refused write changed nothing
    resolved = policy_from_proto(stored.state.tool.policy, tool="echo")
    assert resolved.methods["Say"].hedging.delay_s is None


def test_policy_get_prints_delay_adaptive(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, registry_process: str
) -> None:
    registry = ["--registry", registry_process]
    assert main(["register", "-f", str(MANIFESTS / "echo.yaml"), *registry]) == 0
    path = tmp_path / "policy.yaml"
    path.write_text(FIXED_TOOL_ADAPTIVE_METHOD.replace("Search", "Echo"))
    assert main(["policy", "set", "echo", str(path), *registry]) == 0
    capsys.readouterr()

    assert main(["policy", "get", "echo", *registry]) == 0
    printed = capsys.readouterr().out
    assert yaml.safe_load(printed) == {
        "hedging": {"enabled": True, "delay": "20ms", "max_hedges": 2},
        "methods": {"Echo": {"hedging": {"delay": "adaptive"}}},
    }
    assert load_policy_yaml(printed, where="get") == load_policy_yaml(path.read_text(), where="set")
