"""Bearer-token auth: mutations need the token, reads never do."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest
from google.protobuf import descriptor_pb2

from mesh.api.v1 import registry_pb2 as pb
from mesh.api.v1 import registry_pb2_grpc
from registry.auth import BearerAuth
from registry.errors import Unauthenticated
from tests.registry.registry_harness import Launcher, Registry, WatchStream, make_tool, seconds

TOKEN = "s3cret-token"
Metadata = list[tuple[str, str]]
Mutation = Callable[
    [registry_pb2_grpc.RegistryStub, descriptor_pb2.FileDescriptorSet, Metadata], Awaitable[object]
]

# Every mutation, each with a request that succeeds with the token on the `guarded` registry.
MUTATIONS: list[tuple[str, Mutation]] = [
    (
        "RegisterTool",
        lambda s, d, m: s.RegisterTool(
            pb.RegisterToolRequest(tool=make_tool("echo", d)), metadata=m
        ),
    ),
    (
        "DeregisterTool",
        lambda s, d, m: s.DeregisterTool(pb.DeregisterToolRequest(name="echo"), metadata=m),
    ),
    (
        "AddEndpoints",
        lambda s, d, m: s.AddEndpoints(
            pb.AddEndpointsRequest(tool="echo", endpoints=[pb.Endpoint(address="h:1")]), metadata=m
        ),
    ),
    (
        "RemoveEndpoints",
        lambda s, d, m: s.RemoveEndpoints(
            pb.RemoveEndpointsRequest(tool="echo", addresses=["127.0.0.1:1"]), metadata=m
        ),
    ),
    (
        "RegisterInstance",
        lambda s, d, m: s.RegisterInstance(
            pb.RegisterInstanceRequest(tool="echo", address="h:2"), metadata=m
        ),
    ),
    (
        "Heartbeat",
        lambda s, d, m: s.Heartbeat(
            pb.HeartbeatRequest(tool="echo", instance_id="h:9"), metadata=m
        ),
    ),
    (
        "DeregisterInstance",
        lambda s, d, m: s.DeregisterInstance(
            pb.DeregisterInstanceRequest(tool="echo", instance_id="h:9"), metadata=m
        ),
    ),
    ("SetPolicy", lambda s, d, m: s.SetPolicy(pb.SetPolicyRequest(tool="echo"), metadata=m)),
]


@pytest.fixture
async def guarded(launcher: Launcher, echo: descriptor_pb2.FileDescriptorSet) -> Registry:
    registry = await launcher.start(token=TOKEN)
    tool = make_tool("echo", echo, endpoints=["127.0.0.1:1"])
    await registry.stub.RegisterTool(pb.RegisterToolRequest(tool=tool), metadata=registry.auth)
    instance = pb.RegisterInstanceRequest(tool="echo", address="h:9", ttl=seconds(600))
    await registry.stub.RegisterInstance(instance, metadata=registry.auth)
    return registry


@pytest.mark.parametrize(
    "metadata",
    [
        [],
        [("authorization", "Bearer wrong")],
        [("authorization", TOKEN)],
        [("authorization", f"Basic {TOKEN}")],
    ],
    ids=["missing", "wrong", "no-scheme", "basic"],
)
@pytest.mark.parametrize(("method", "mutation"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
async def test_mutations_without_the_token_are_refused_and_change_nothing(
    guarded: Registry,
    echo: descriptor_pb2.FileDescriptorSet,
    method: str,
    mutation: Mutation,
    metadata: Metadata,
) -> None:
    before = await guarded.stub.ListTools(pb.ListToolsRequest())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await mutation(guarded.stub, echo, metadata)
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED, method
    assert await guarded.stub.ListTools(pb.ListToolsRequest()) == before


@pytest.mark.parametrize(("method", "mutation"), MUTATIONS, ids=[m[0] for m in MUTATIONS])
async def test_mutations_with_the_token_succeed(
    guarded: Registry, echo: descriptor_pb2.FileDescriptorSet, method: str, mutation: Mutation
) -> None:
    before = await guarded.stub.ListTools(pb.ListToolsRequest())
    await mutation(guarded.stub, echo, guarded.auth)
    after = await guarded.stub.ListTools(pb.ListToolsRequest())
    # A heartbeat renews a lease without making a change.
    assert after.version == before.version + (0 if method == "Heartbeat" else 1), method


async def test_reads_are_open(guarded: Registry) -> None:
    got = await guarded.stub.GetTool(pb.GetToolRequest(name="echo"))
    assert got.state.tool.name == "echo"
    listing = await guarded.stub.ListTools(pb.ListToolsRequest())
    assert listing.version == 2
    watch = WatchStream(guarded.stub)
    try:
        first = await watch.next()
        assert [state.tool.name for state in first.snapshot.tools] == ["echo"]
    finally:
        watch.cancel()


def test_bearer_auth_contract() -> None:
    auth = BearerAuth("abc")
    auth.require([("authorization", "Bearer abc")])
    auth.require([("Authorization", "bearer  abc ")])  # scheme is case-insensitive
    for metadata in (
        [],
        None,
        [("authorization", "Bearer abcd")],
        [("authorization", "Bearer ab")],
    ):
        with pytest.raises(Unauthenticated):
            auth.require(metadata)
    BearerAuth(None).require(None)  # no token configured: everything passes
