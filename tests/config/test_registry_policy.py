"""The registry validates policy writes with mesh.config: an invalid policy is refused with
every problem listed, a fallback must be another registered tool, and the old policy stays.
(How a policy's method names and fallbacks must fit the tools: tests/registry/
test_registry_policy_targets.py.)"""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2

from mesh.api.v1 import policy_pb2
from mesh.api.v1 import registry_pb2 as pb
from mesh.config import load_policy_yaml
from tests.config.policies import ISSUE_EXAMPLE, seconds
from tests.registry.registry_harness import MATH_SERVICE, TEXT_SERVICE, Registry, make_tool

DescriptorSets = dict[str, descriptor_pb2.FileDescriptorSet]
OLD_POLICY = policy_pb2.ToolPolicy(timeout=seconds(2))


async def _register(
    registry: Registry, name: str, descriptors: descriptor_pb2.FileDescriptorSet, **fields: Any
) -> None:
    await registry.stub.RegisterTool(
        pb.RegisterToolRequest(tool=make_tool(name, descriptors, **fields))
    )


def _echo_like(
    echo: descriptor_pb2.FileDescriptorSet, service: str
) -> descriptor_pb2.FileDescriptorSet:
    """Echo's descriptors with its service renamed: a tool with the same method shapes that
    can be registered beside echo (a fallback that fits it)."""
    renamed = descriptor_pb2.FileDescriptorSet()
    renamed.CopyFrom(echo)
    for file in renamed.file:
        for defined in file.service:
            defined.name = service
    return renamed


async def _stored_policy(registry: Registry, name: str) -> policy_pb2.ToolPolicy:
    response: pb.GetToolResponse = await registry.stub.GetTool(pb.GetToolRequest(name=name))
    return response.state.tool.policy


async def _refusal(registry: Registry, request: object, method: str) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await getattr(registry.stub, method)(request)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return (refused.value.details() or "").split("; ")


async def test_set_policy_refuses_an_invalid_policy_listing_every_problem(
    registry_server: Registry, descriptor_sets: DescriptorSets
) -> None:
    await _register(registry_server, "echo", descriptor_sets["echo"], policy=OLD_POLICY)
    bad = policy_pb2.ToolPolicy(
        timeout=seconds(0),
        retry=policy_pb2.RetryPolicy(max_attempts=0, retryable_codes=["UNAVAILBLE"]),
        fallback="echo",
        methods={"Summarize": policy_pb2.MethodPolicy(timeout=seconds(0))},
    )
    problems = await _refusal(
        registry_server, pb.SetPolicyRequest(tool="echo", policy=bad), "SetPolicy"
    )
    assert problems == [
        "policy.timeout must be > 0 (got 0s)",
        "policy.retry.max_attempts must be between 1 and 10 (got 0)",
        "policy.retry.retryable_codes[0]: 'UNAVAILBLE' is not a gRPC status code name "
        "(did you mean UNAVAILABLE?)",
        "policy.fallback: 'echo' is the tool itself (a fallback must be another tool)",
        "policy.methods.Summarize.timeout must be > 0 (got 0s)",
        "policy.methods: 'Summarize' is not a method of tool 'echo' (its methods: Say)",
    ]
    assert await _stored_policy(registry_server, "echo") == OLD_POLICY


async def test_a_fallback_must_be_a_registered_tool(
    registry_server: Registry, descriptor_sets: DescriptorSets
) -> None:
    await _register(registry_server, "echo", descriptor_sets["echo"], policy=OLD_POLICY)
    policy = load_policy_yaml(ISSUE_EXAMPLE.replace("Summarize", "Say"), where="p.yaml")
    policy.methods["Say"].fallback = "ghost"  # the tool's fallback is other-tool
    policy.hedging.max_hedges = 5
    problems = await _refusal(
        registry_server, pb.SetPolicyRequest(tool="echo", policy=policy), "SetPolicy"
    )
    assert problems == [
        "policy.hedging.max_hedges must be between 1 and 3 (got 5)",
        "policy.fallback: tool 'other-tool' is not registered "
        "(a fallback must be a registered tool)",
        "policy.methods.Say.fallback: tool 'ghost' is not registered "
        "(a fallback must be a registered tool)",
    ]
    assert await _stored_policy(registry_server, "echo") == OLD_POLICY

    echo = descriptor_sets["echo"]
    await _register(registry_server, "other-tool", _echo_like(echo, "EchoAgain"))
    await _register(registry_server, "ghost", _echo_like(echo, "EchoGhost"))
    policy.hedging.max_hedges = 2
    response: pb.SetPolicyResponse = await registry_server.stub.SetPolicy(
        pb.SetPolicyRequest(tool="echo", policy=policy)
    )
    assert response.version > 0
    assert await _stored_policy(registry_server, "echo") == policy


async def test_register_tool_validates_its_policy_with_the_other_fields(
    registry_server: Registry, descriptor_sets: DescriptorSets
) -> None:
    await _register(registry_server, "echo", descriptor_sets["echo"], policy=OLD_POLICY)
    bad = policy_pb2.ToolPolicy(fallback="echo", hedging=policy_pb2.HedgingPolicy(max_hedges=0))
    tool = make_tool("echo", descriptor_sets["echo"], endpoints=["nohost"], policy=bad)
    problems = await _refusal(registry_server, pb.RegisterToolRequest(tool=tool), "RegisterTool")
    assert problems == [
        "tool.endpoints[0].address: address 'nohost' has no port (expected HOST:PORT)",
        "tool.policy.hedging.max_hedges must be between 1 and 3 (got 0)",
        "tool.policy.fallback: 'echo' is the tool itself (a fallback must be another tool)",
    ]
    assert await _stored_policy(registry_server, "echo") == OLD_POLICY


async def test_register_tool_refuses_an_unregistered_fallback(
    registry_server: Registry, descriptor_sets: DescriptorSets
) -> None:
    policy = policy_pb2.ToolPolicy(fallback="backup")
    tool = make_tool("echo", descriptor_sets["echo"], policy=policy)
    assert await _refusal(registry_server, pb.RegisterToolRequest(tool=tool), "RegisterTool") == [
        "tool.policy.fallback: tool 'backup' is not registered "
        "(a fallback must be a registered tool)"
    ]
    await _register(registry_server, "backup", _echo_like(descriptor_sets["echo"], "EchoBackup"))
    await registry_server.stub.RegisterTool(pb.RegisterToolRequest(tool=tool))
    assert (await _stored_policy(registry_server, "echo")).fallback == "backup"


async def test_a_policy_without_fallback_needs_no_other_tool(
    registry_server: Registry, descriptor_sets: DescriptorSets
) -> None:
    await _register(registry_server, "echo", descriptor_sets["echo"])
    policy = policy_pb2.ToolPolicy(
        timeout=seconds(5), methods={"Say": policy_pb2.MethodPolicy(fallback="")}
    )
    await registry_server.stub.SetPolicy(pb.SetPolicyRequest(tool="echo", policy=policy))
    assert await _stored_policy(registry_server, "echo") == policy


async def test_the_readme_example_is_refused_for_a_tool_it_does_not_fit(
    registry_server: Registry, descriptor_sets: DescriptorSets
) -> None:
    await _register(registry_server, "echo", descriptor_sets["echo"])
    multi = descriptor_sets["multi"]
    await _register(registry_server, "other-tool", multi, services=[MATH_SERVICE, TEXT_SERVICE])
    policy = load_policy_yaml(ISSUE_EXAMPLE, where="p.yaml")
    problems = await _refusal(
        registry_server, pb.SetPolicyRequest(tool="echo", policy=policy), "SetPolicy"
    )
    assert problems == [
        "policy.fallback: tool 'other-tool' serves none of Say (its methods: Add, Upper), so it "
        "would never be called (a fallback gets a failed call on its method of the same name)",
        "policy.methods: 'Summarize' is not a method of tool 'echo' (its methods: Say)",
    ]
    assert not (await _stored_policy(registry_server, "echo")).ByteSize()
