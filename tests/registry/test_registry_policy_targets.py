"""A policy's `methods` keys must name methods of its tool, and its fallbacks must be able to
serve the calls sent to them: checked by `registry.policy_targets` (pure, first) and enforced
by RegisterTool and SetPolicy (through gRPC, after). Writes that leave a stored policy stale
are accepted, logged, and answered with one warning per problem."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2

from mesh.api.v1 import policy_pb2, registry_pb2
from mesh.descriptors import MethodShape
from registry.errors import StorageFailure
from registry.policy_targets import (
    PolicyTargets,
    lost_fallback_problems,
    stale_policy_problems,
    stale_policy_warnings,
    target_problems,
    tool_methods,
)
from tests.registry.registry_harness import Registry, make_tool

SERVICE_LOG = "registry.service"

# -- descriptors and shapes ------------------------------------------------------------------


@dataclass(frozen=True)
class Rpc:
    """One method of a test service; message names are local to the file's package."""

    name: str
    input: str = "Req"
    output: str = "Resp"
    client_streaming: bool = False
    server_streaming: bool = False


def descriptors(
    package: str, services: Mapping[str, Sequence[Rpc]]
) -> descriptor_pb2.FileDescriptorSet:
    """One file in `package` defining `services` and every message their methods use."""
    file = descriptor_pb2.FileDescriptorProto(
        name=f"{package.replace('.', '/')}/tool.proto", package=package, syntax="proto3"
    )
    messages = dict.fromkeys(
        name for rpcs in services.values() for rpc in rpcs for name in (rpc.input, rpc.output)
    )
    file.message_type.extend(descriptor_pb2.DescriptorProto(name=name) for name in messages)
    for service_name, rpcs in services.items():
        service = file.service.add(name=service_name)
        for rpc in rpcs:
            service.method.add(
                name=rpc.name,
                input_type=f".{package}.{rpc.input}",
                output_type=f".{package}.{rpc.output}",
                client_streaming=rpc.client_streaming,
                server_streaming=rpc.server_streaming,
            )
    return descriptor_pb2.FileDescriptorSet(file=[file])


def shape(
    full: str,
    input_type: str = "summ.v1.Req",
    output_type: str = "summ.v1.Resp",
    *,
    client: bool = False,
    server: bool = False,
) -> MethodShape:
    """A method shape from its full name `pkg.Service/Method`."""
    service, _, name = full.partition("/")
    return MethodShape(service, name, input_type, output_type, client, server)


SUMMARIZER = (shape("summ.v1.Summarizer/Summarize"), shape("summ.v1.Summarizer/Translate"))
SAME_SHAPES = (shape("summ.v1.Backup/Summarize"), shape("summ.v1.Backup/Translate"))


def policy(fallback: str = "", **methods: policy_pb2.MethodPolicy) -> policy_pb2.ToolPolicy:
    return policy_pb2.ToolPolicy(fallback=fallback, methods=methods)


def problems_of(
    written: policy_pb2.ToolPolicy,
    methods: Sequence[MethodShape] = SUMMARIZER,
    **fallbacks: Sequence[MethodShape],
) -> list[str]:
    targets = PolicyTargets(
        "summarizer", tuple(methods), {k: tuple(v) for k, v in fallbacks.items()}
    )
    return target_problems(written, "policy", targets)


# -- methods keys ------------------------------------------------------------------------------


def test_a_misspelt_short_name_is_refused_listing_the_tools_methods() -> None:
    assert problems_of(policy(Sumarize=policy_pb2.MethodPolicy())) == [
        "policy.methods: 'Sumarize' is not a method of tool 'summarizer' "
        "(its methods: Summarize, Translate)"
    ]


def test_a_full_name_must_name_a_service_and_method_of_the_tool() -> None:
    written = policy_pb2.ToolPolicy(
        methods={
            "summ.v1.Summarizer/Summarize": policy_pb2.MethodPolicy(),
            "summ.v1.Other/Summarize": policy_pb2.MethodPolicy(),
        }
    )
    assert problems_of(written) == [
        "policy.methods: 'summ.v1.Other/Summarize' is not a method of tool 'summarizer' "
        "(its methods: summ.v1.Summarizer/Summarize, summ.v1.Summarizer/Translate)"
    ]


def test_a_short_name_two_services_define_is_ambiguous_and_full_names_are_not() -> None:
    methods = (shape("echo.v1.A/Get"), shape("echo.v1.B/Get"), shape("echo.v1.B/Put"))
    assert problems_of(
        policy(Get=policy_pb2.MethodPolicy(), Put=policy_pb2.MethodPolicy()), methods
    ) == [
        "policy.methods: 'Get' is ambiguous in tool 'summarizer' (echo.v1.A/Get, echo.v1.B/Get): "
        "use the full name"
    ]
    full = policy_pb2.ToolPolicy(
        methods={
            "echo.v1.A/Get": policy_pb2.MethodPolicy(),
            "echo.v1.B/Get": policy_pb2.MethodPolicy(),
        }
    )
    assert problems_of(full, methods) == []


def test_a_short_name_shadowed_by_the_full_name_of_its_method_never_applies() -> None:
    written = policy_pb2.ToolPolicy(
        methods={
            "Summarize": policy_pb2.MethodPolicy(),
            "summ.v1.Summarizer/Summarize": policy_pb2.MethodPolicy(),
        }
    )
    assert problems_of(written) == [
        "policy.methods: 'Summarize' never applies: 'summ.v1.Summarizer/Summarize' overrides "
        "the same method and the full name wins (merge the two overrides)"
    ]


def test_keys_that_are_not_method_names_are_left_to_mesh_config() -> None:
    written = policy_pb2.ToolPolicy(methods={"not a key!": policy_pb2.MethodPolicy()})
    assert problems_of(written) == []


def test_a_tool_without_methods_says_so() -> None:
    assert problems_of(policy(Summarize=policy_pb2.MethodPolicy()), ()) == [
        "policy.methods: 'Summarize' is not a method of tool 'summarizer' (its methods: none)"
    ]


# -- the tool-level fallback --------------------------------------------------------------------


def test_a_fallback_with_the_same_shapes_is_accepted() -> None:
    assert problems_of(policy("backup"), backup=SAME_SHAPES) == []


def test_a_fallback_covering_only_some_methods_is_accepted() -> None:
    assert problems_of(policy("backup"), backup=SAME_SHAPES[:1]) == []


def test_a_fallback_serving_none_of_the_methods_is_refused() -> None:
    assert problems_of(policy("backup"), backup=[shape("x.v1.X/Lookup")]) == [
        "policy.fallback: tool 'backup' serves none of Summarize, Translate (its methods: Lookup), "
        "so it would never be called (a fallback gets a failed call on its method of the same name)"
    ]


def test_every_difference_of_a_same_named_method_is_named() -> None:
    backup = [
        shape("backup.v1.Backup/Summarize", "backup.v1.Req", "backup.v1.Resp", server=True),
        shape("backup.v1.Backup/Translate", client=True, server=True),
    ]
    assert problems_of(policy("backup"), backup=backup) == [
        "policy.fallback: tool 'backup' method Summarize takes backup.v1.Req, not summ.v1.Req, "
        "returns backup.v1.Resp, not summ.v1.Resp, is server streaming, not unary "
        "(a fallback gets the call's messages as they are)",
        "policy.fallback: tool 'backup' method Translate is bidirectional streaming, not unary "
        "(a fallback gets the call's messages as they are)",
    ]


def test_the_tool_fallback_is_checked_only_for_the_methods_that_inherit_it() -> None:
    # Translate sets its own (empty) fallback: backup stands in for Summarize only.
    written = policy("backup", Translate=policy_pb2.MethodPolicy(fallback=""))
    backup_of_translate = [shape("summ.v1.Backup/Translate")]
    assert problems_of(written, backup=backup_of_translate) == [
        "policy.fallback: tool 'backup' serves none of Summarize (its methods: Translate), "
        "so it would never be called (a fallback gets a failed call on its method of the same name)"
    ]
    mismatched_translate = [SAME_SHAPES[0], shape("summ.v1.Backup/Translate", "summ.v1.Other")]
    assert problems_of(written, backup=mismatched_translate) == []
    # An override without `fallback` inherits the tool's, and is checked with it.
    inheriting = policy("backup", Translate=policy_pb2.MethodPolicy(idempotent=True))
    assert len(problems_of(inheriting, backup=mismatched_translate)) == 1


def test_a_tool_fallback_every_method_overrides_is_not_checked() -> None:
    written = policy(
        "backup",
        Summarize=policy_pb2.MethodPolicy(fallback=""),
        Translate=policy_pb2.MethodPolicy(fallback=""),
    )
    assert problems_of(written, backup=[shape("x.v1.X/Lookup")]) == []


def test_the_first_same_named_method_of_the_fallback_is_the_one_checked() -> None:
    # The sidecar sends the call to the first method of that name, in declaration order.
    good_second = [shape("b.v1.A/Summarize", "b.v1.Req"), shape("b.v1.B/Summarize")]
    assert problems_of(policy("backup"), SUMMARIZER[:1], backup=good_second) == [
        "policy.fallback: tool 'backup' method Summarize takes b.v1.Req, not summ.v1.Req "
        "(a fallback gets the call's messages as they are)"
    ]
    assert problems_of(policy("backup"), SUMMARIZER[:1], backup=good_second[::-1]) == []


def test_a_short_name_of_several_primary_services_names_the_one_that_differs() -> None:
    methods = (shape("echo.v1.A/Get"), shape("echo.v1.B/Get", "summ.v1.Other"))
    assert problems_of(policy("backup"), methods, backup=[shape("bk.v1.Backup/Get")]) == [
        "policy.fallback: tool 'backup' method Get (for echo.v1.B/Get) takes summ.v1.Req, "
        "not summ.v1.Other (a fallback gets the call's messages as they are)"
    ]


def test_fallbacks_not_looked_up_or_the_tool_itself_are_not_checked_here() -> None:
    assert problems_of(policy("ghost")) == []
    assert problems_of(policy("summarizer"), summarizer=SUMMARIZER) == []


# -- method-level fallbacks --------------------------------------------------------------------


def test_a_method_fallback_must_serve_its_method_with_the_same_shape() -> None:
    written = policy(
        Summarize=policy_pb2.MethodPolicy(fallback="backup"),
        Translate=policy_pb2.MethodPolicy(fallback="other"),
    )
    other = [shape("o.v1.O/Translate", output_type="o.v1.Resp")]
    assert problems_of(written, backup=[shape("x.v1.X/Lookup")], other=other) == [
        "policy.methods.Summarize.fallback: tool 'backup' has no method Summarize "
        "(its methods: Lookup), so it would never be called",
        "policy.methods.Translate.fallback: tool 'other' method Translate returns o.v1.Resp, "
        "not summ.v1.Resp (a fallback gets the call's messages as they are)",
    ]


def test_a_method_fallback_under_a_full_name_uses_the_short_name_in_the_fallback() -> None:
    written = policy_pb2.ToolPolicy(
        methods={"summ.v1.Summarizer/Summarize": policy_pb2.MethodPolicy(fallback="backup")}
    )
    assert problems_of(written, backup=SAME_SHAPES) == []
    assert problems_of(written, backup=SAME_SHAPES[1:]) == [
        "policy.methods.summ.v1.Summarizer/Summarize.fallback: tool 'backup' has no method "
        "Summarize (its methods: Translate), so it would never be called"
    ]


def test_problems_come_tool_fallback_first_then_keys_in_order() -> None:
    written = policy(
        "backup",
        Zzz=policy_pb2.MethodPolicy(),
        Summarize=policy_pb2.MethodPolicy(fallback="backup"),
    )
    found = problems_of(written, backup=[shape("x.v1.X/Lookup")])
    assert [problem.split(":")[0] for problem in found] == [
        "policy.fallback",
        "policy.methods.Summarize.fallback",
        "policy.methods",
    ]


# -- stored tools --------------------------------------------------------------------------------


def stored(
    name: str, files: descriptor_pb2.FileDescriptorSet, written: policy_pb2.ToolPolicy | None = None
) -> registry_pb2.ToolState:
    tool = make_tool(name, files)
    if written is not None:
        tool.policy.CopyFrom(written)
    return registry_pb2.ToolState(tool=tool)


def lost(path: str, removed: str = "backup") -> str:
    """The problem of a policy field naming a deregistered fallback."""
    return (
        f"{path}: tool {removed!r} is not registered, so a failed call gets no fallback there "
        "until it is registered again"
    )


SUMM_FILES = descriptors("summ.v1", {"Summarizer": [Rpc("Summarize"), Rpc("Translate")]})
BACKUP_FILES = descriptors("summ.v1", {"Backup": [Rpc("Summarize")]})
CHANGED_BACKUP_FILES = descriptors("backup.v1", {"Backup": [Rpc("Summarize")]})
CHANGED_BACKUP_PROBLEM = (
    "policy.fallback: tool 'backup' method Summarize takes backup.v1.Req, not summ.v1.Req, "
    "returns backup.v1.Resp, not summ.v1.Resp (a fallback gets the call's messages as they are)"
)


def test_tool_methods_cover_every_service_when_none_is_listed_and_nothing_on_bad_files() -> None:
    files = descriptors("m.v1", {"A": [Rpc("One")], "B": [Rpc("Two", server_streaming=True)]})
    assert tool_methods(make_tool("m", files)) == (
        shape("m.v1.A/One", "m.v1.Req", "m.v1.Resp"),
        shape("m.v1.B/Two", "m.v1.Req", "m.v1.Resp", server=True),
    )
    assert [m.name for m in tool_methods(make_tool("m", files, services=["m.v1.B"]))] == ["Two"]
    broken = descriptor_pb2.FileDescriptorSet()
    broken.CopyFrom(files)
    broken.file[0].dependency.append("missing.proto")
    assert tool_methods(make_tool("m", broken)) == ()


def test_stale_policies_are_those_of_the_changed_tool_and_of_tools_naming_it() -> None:
    states = [
        stored("summarizer", SUMM_FILES, policy("backup", Gone=policy_pb2.MethodPolicy())),
        stored("backup", CHANGED_BACKUP_FILES),
        stored("unrelated", SUMM_FILES, policy(Gone=policy_pb2.MethodPolicy())),
    ]
    stale = stale_policy_problems("backup", states)
    assert stale == {
        "summarizer": [
            CHANGED_BACKUP_PROBLEM,
            "policy.methods: 'Gone' is not a method of tool 'summarizer' "
            "(its methods: Summarize, Translate)",
        ]
    }
    assert list(stale_policy_problems("unrelated", states)) == ["unrelated"]
    states[1] = stored("backup", BACKUP_FILES)
    assert stale_policy_problems("backup", states[:2]) == {"summarizer": [stale["summarizer"][1]]}


def test_a_removed_fallback_is_reported_at_every_field_naming_it() -> None:
    by_method = policy(
        "backup",
        Summarize=policy_pb2.MethodPolicy(fallback="backup"),
        Translate=policy_pb2.MethodPolicy(fallback="other"),
    )
    states = [
        stored("translator", SUMM_FILES, policy(Translate=policy_pb2.MethodPolicy(fallback=""))),
        stored("summarizer", SUMM_FILES, by_method),
        stored("other", BACKUP_FILES),
        stored("aaa", SUMM_FILES, policy("backup")),
    ]
    assert lost_fallback_problems("backup", states) == {
        "aaa": [lost("policy.fallback")],
        "summarizer": [lost("policy.fallback"), lost("policy.methods.Summarize.fallback")],
    }
    assert list(lost_fallback_problems("other", states)) == ["summarizer"]
    assert lost_fallback_problems("translator", states) == {}


def test_warnings_are_one_line_per_problem_by_tool_name_saying_what_changed() -> None:
    stale = {"zed": ["policy.fallback: z"], "abc": ["policy.methods: a", "policy.fallback: b"]}
    assert stale_policy_warnings("tool 'backup' was registered", stale) == [
        "the policy of tool 'abc' is stale after tool 'backup' was registered: policy.methods: a",
        "the policy of tool 'abc' is stale after tool 'backup' was registered: policy.fallback: b",
        "the policy of tool 'zed' is stale after tool 'backup' was registered: policy.fallback: z",
    ]
    assert stale_policy_warnings("tool 'backup' was registered", {}) == []


# -- through the Registry API ------------------------------------------------------------------


async def register(
    registry: Registry, name: str, files: descriptor_pb2.FileDescriptorSet, **fields: Any
) -> None:
    await registry.stub.RegisterTool(
        registry_pb2.RegisterToolRequest(tool=make_tool(name, files, **fields))
    )


async def refusal(call: object) -> list[str]:
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call  # type: ignore[misc]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.value.details()
    return (refused.value.details() or "").split("; ")


async def stored_policy(registry: Registry, name: str) -> policy_pb2.ToolPolicy:
    response = await registry.stub.GetTool(registry_pb2.GetToolRequest(name=name))
    assert isinstance(response, registry_pb2.GetToolResponse)
    return response.state.tool.policy


AMBIGUOUS_FILES = descriptors(
    "echo.v1", {"A": [Rpc("Get"), Rpc("Sum")], "B": [Rpc("Get", server_streaming=True)]}
)


async def test_register_tool_lists_every_problem_of_its_policys_names(registry: Registry) -> None:
    await register(registry, "backup", CHANGED_BACKUP_FILES)
    written = policy(
        "backup",
        Gett=policy_pb2.MethodPolicy(),
        Get=policy_pb2.MethodPolicy(),
        Sum=policy_pb2.MethodPolicy(fallback="backup"),
    )
    tool = make_tool("x", AMBIGUOUS_FILES, policy=written)
    problems = await refusal(
        registry.stub.RegisterTool(registry_pb2.RegisterToolRequest(tool=tool))
    )
    assert problems == [
        # Sum sets its own fallback: the tool's stands in for Get only.
        "tool.policy.fallback: tool 'backup' serves none of Get (its methods: Summarize), so it "
        "would never be called (a fallback gets a failed call on its method of the same name)",
        "tool.policy.methods: 'Get' is ambiguous in tool 'x' (echo.v1.A/Get, echo.v1.B/Get): "
        "use the full name",
        "tool.policy.methods: 'Gett' is not a method of tool 'x' (its methods: Get, Sum)",
        "tool.policy.methods.Sum.fallback: tool 'backup' has no method Sum "
        "(its methods: Summarize), so it would never be called",
    ]
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await registry.stub.GetTool(registry_pb2.GetToolRequest(name="x"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_set_policy_is_checked_against_the_stored_tool(registry: Registry) -> None:
    old = policy(Summarize=policy_pb2.MethodPolicy(idempotent=True))
    await register(registry, "summarizer", SUMM_FILES, policy=old)
    await register(registry, "backup", CHANGED_BACKUP_FILES)
    written = policy("backup", Sumarize=policy_pb2.MethodPolicy())
    request = registry_pb2.SetPolicyRequest(tool="summarizer", policy=written)
    assert await refusal(registry.stub.SetPolicy(request)) == [
        CHANGED_BACKUP_PROBLEM,
        "policy.methods: 'Sumarize' is not a method of tool 'summarizer' "
        "(its methods: Summarize, Translate)",
    ]
    assert await stored_policy(registry, "summarizer") == old

    await register(registry, "backup", BACKUP_FILES)  # now the same shape, Summarize only
    fixed = policy("backup", Summarize=policy_pb2.MethodPolicy())
    await registry.stub.SetPolicy(registry_pb2.SetPolicyRequest(tool="summarizer", policy=fixed))
    assert await stored_policy(registry, "summarizer") == fixed


async def test_set_policy_of_an_unknown_tool_is_not_found(registry: Registry) -> None:
    request = registry_pb2.SetPolicyRequest(
        tool="ghost", policy=policy(Anything=policy_pb2.MethodPolicy())
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.stub.SetPolicy(request)
    assert refused.value.code() == grpc.StatusCode.NOT_FOUND


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == SERVICE_LOG]


def stale_after(change: str, tool: str, problem: str) -> str:
    return f"the policy of tool {tool!r} is stale after {change}: {problem}"


async def test_changing_a_fallbacks_shape_is_accepted_and_the_caller_warned(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    await register(registry, "backup", BACKUP_FILES)
    await register(registry, "summarizer", SUMM_FILES, policy=policy("backup"))
    caplog.set_level(logging.WARNING, logger=SERVICE_LOG)

    response = await registry.stub.RegisterTool(
        registry_pb2.RegisterToolRequest(tool=make_tool("backup", CHANGED_BACKUP_FILES))
    )
    assert isinstance(response, registry_pb2.RegisterToolResponse)
    expected = stale_after("tool 'backup' was registered", "summarizer", CHANGED_BACKUP_PROBLEM)
    assert list(response.warnings) == [expected]
    assert logged(caplog) == [expected]
    assert not response.created
    assert response.state.tool.descriptors == CHANGED_BACKUP_FILES
    assert (await stored_policy(registry, "summarizer")).fallback == "backup"


async def test_deregistering_a_fallback_is_accepted_and_the_caller_warned(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    await register(registry, "backup", BACKUP_FILES)
    await register(registry, "summarizer", SUMM_FILES, policy=policy("backup"))
    by_method = policy(Summarize=policy_pb2.MethodPolicy(fallback="backup"))
    digest_files = descriptors("summ.v1", {"Digest": [Rpc("Summarize")]})
    await register(registry, "digest", digest_files, policy=by_method)
    await register(registry, "unrelated", descriptors("u.v1", {"U": [Rpc("Get")]}))
    caplog.set_level(logging.WARNING, logger=SERVICE_LOG)

    response = await registry.stub.DeregisterTool(registry_pb2.DeregisterToolRequest(name="backup"))
    assert isinstance(response, registry_pb2.DeregisterToolResponse)
    change = "tool 'backup' was deregistered"
    expected = [
        stale_after(change, "digest", lost("policy.methods.Summarize.fallback")),
        stale_after(change, "summarizer", lost("policy.fallback")),
    ]
    assert list(response.warnings) == expected
    assert logged(caplog) == expected
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await registry.stub.GetTool(registry_pb2.GetToolRequest(name="backup"))
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND

    caplog.clear()
    quiet = await registry.stub.DeregisterTool(registry_pb2.DeregisterToolRequest(name="unrelated"))
    assert list(quiet.warnings) == []
    assert logged(caplog) == []


async def test_a_registration_keeping_a_policy_it_no_longer_fits_is_accepted_and_warned(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    written = policy(Translate=policy_pb2.MethodPolicy(idempotent=True))
    await register(registry, "summarizer", SUMM_FILES, policy=written)
    caplog.set_level(logging.WARNING, logger=SERVICE_LOG)
    response = await registry.stub.RegisterTool(
        registry_pb2.RegisterToolRequest(
            tool=make_tool("summarizer", descriptors("summ.v1", {"Summarizer": [Rpc("Summarize")]}))
        )
    )
    assert await stored_policy(registry, "summarizer") == written
    expected = stale_after(
        "tool 'summarizer' was registered",
        "summarizer",
        "policy.methods: 'Translate' is not a method of tool 'summarizer' (its methods: Summarize)",
    )
    assert list(response.warnings) == [expected]
    assert logged(caplog) == [expected]


async def test_a_fallback_registered_anew_with_another_shape_is_warned_of(
    registry: Registry,
) -> None:
    await register(registry, "backup", BACKUP_FILES)
    await register(registry, "summarizer", SUMM_FILES, policy=policy("backup"))
    await registry.stub.DeregisterTool(registry_pb2.DeregisterToolRequest(name="backup"))
    response = await registry.stub.RegisterTool(
        registry_pb2.RegisterToolRequest(tool=make_tool("backup", CHANGED_BACKUP_FILES))
    )
    assert response.created
    assert list(response.warnings) == [
        stale_after("tool 'backup' was registered", "summarizer", CHANGED_BACKUP_PROBLEM)
    ]


async def test_a_registration_that_breaks_no_policy_warns_of_nothing(
    registry: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    await register(registry, "backup", BACKUP_FILES)
    await register(registry, "summarizer", SUMM_FILES, policy=policy("backup"))
    caplog.set_level(logging.WARNING, logger=SERVICE_LOG)
    for name, files in (("backup", BACKUP_FILES), ("summarizer", SUMM_FILES)):
        response = await registry.stub.RegisterTool(
            registry_pb2.RegisterToolRequest(tool=make_tool(name, files, version="2"))
        )
        assert list(response.warnings) == [], name
    assert logged(caplog) == []


async def test_a_change_whose_check_failed_says_what_was_not_checked(
    registry: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await register(registry, "backup", BACKUP_FILES)
    await register(registry, "summarizer", SUMM_FILES, policy=policy("backup"))

    async def failing_list_tools() -> tuple[list[registry_pb2.ToolState], int]:
        raise StorageFailure("database is locked")

    monkeypatch.setattr(registry.running.store, "list_tools", failing_list_tools)
    caplog.set_level(logging.WARNING, logger=SERVICE_LOG)
    response = await registry.stub.DeregisterTool(registry_pb2.DeregisterToolRequest(name="backup"))
    expected = (
        "the policies that may be stale after tool 'backup' was deregistered were not checked: "
        "database is locked"
    )
    assert list(response.warnings) == [expected]
    assert logged(caplog) == [expected]
    assert [r.levelno for r in caplog.records if r.name == SERVICE_LOG] == [logging.ERROR]
