"""The internal server through public gRPC: health, reflection, Sidecar.ListTools and Invoke."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import descriptor_pb2, json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from mesh.api.v1 import registry_pb2, sidecar_pb2, sidecar_pb2_grpc
from sidecar.catalog import Catalog, CatalogHolder
from sidecar.services.names import INTERNAL_SERVICES
from sidecar.services.server import start_internal_server

from .compiled import bare_tool, kitchen_files, tool_state
from .echo_tool import EchoTool

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
V1_REFLECTION = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"


def catalog_of(*states: registry_pb2.ToolState, version: int = 1, **kwargs: Any) -> Catalog:
    return Catalog.build(states, version=version, store_id="s", **kwargs)


class Mesh:
    """An echo tool, a holder and the internal server (Invoke goes straight to the tool)."""

    def __init__(self, holder: CatalogHolder, tool: EchoTool, server: Any, address: str) -> None:
        self.holder = holder
        self.tool = tool
        self.server = server
        self.address = address
        self.channel = grpc.aio.insecure_channel(address)
        self.sidecar = sidecar_pb2_grpc.SidecarStub(self.channel)  # type: ignore[no-untyped-call]
        self.health = health_pb2_grpc.HealthStub(self.channel)  # type: ignore[no-untyped-call]

    def states(self, *, with_quiet: bool = True) -> list[registry_pb2.ToolState]:
        states = [
            tool_state(
                "echo", endpoints=[self.tool.address], version="1.2.3", description="Echoes."
            ),
            tool_state("kitchen", files=kitchen_files()),
        ]
        if with_quiet:
            states.append(bare_tool("quiet", "q.v1.Quiet"))
        return states

    async def invoke(self, method: str, request: Any = None, **kwargs: Any) -> Any:
        text = request if isinstance(request, str) else json.dumps(request or {})
        return await self.sidecar.Invoke(
            sidecar_pb2.InvokeRequest(method=method, request_json=text, **kwargs), timeout=5
        )

    async def reflect(self, request: Any, *, v1: bool = False) -> Any:
        if v1:
            call = self.channel.stream_stream(
                V1_REFLECTION,
                reflection_pb2.ServerReflectionRequest.SerializeToString,
                reflection_pb2.ServerReflectionResponse.FromString,
            )(iter([request]), timeout=5)
        else:
            stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
            call = stub.ServerReflectionInfo(iter([request]), timeout=5)
        [response] = [item async for item in call]
        return response


async def open_mesh(bind: str | None = None) -> Mesh:
    tool = EchoTool()
    await tool.start()
    holder = CatalogHolder()
    server, address = await start_internal_server(holder, tool.address, bind=bind)
    mesh = Mesh(holder, tool, server, address)
    holder.replace(catalog_of(*mesh.states(), version=7))
    return mesh


async def close_mesh(mesh: Mesh) -> None:
    await mesh.channel.close(None)
    await mesh.server.stop(None)
    await mesh.tool.stop()


@pytest.fixture
async def mesh() -> AsyncIterator[Mesh]:
    opened = await open_mesh()
    try:
        yield opened
    finally:
        await close_mesh(opened)


# -- the server itself ---------------------------------------------------------------------


async def test_default_address_is_a_unix_socket_in_a_private_dir_removed_on_stop() -> None:
    opened = await open_mesh()
    try:
        assert opened.address.startswith("unix:/") and opened.address.endswith("/internal.sock")
        directory = Path(opened.address.removeprefix("unix:")).parent
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
        response = await opened.health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert response.status == SERVING
    finally:
        await close_mesh(opened)
    assert not directory.exists()


async def test_bind_address_reports_the_real_port() -> None:
    opened = await open_mesh(bind="127.0.0.1:0")
    try:
        host, _, port = opened.address.rpartition(":")
        assert host == "127.0.0.1" and int(port) > 0
        response = await opened.health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert response.status == SERVING
    finally:
        await close_mesh(opened)


# -- health --------------------------------------------------------------------------------


async def check(mesh: Mesh, service: str) -> int:
    request = health_pb2.HealthCheckRequest(service=service)
    response = await mesh.health.Check(request, timeout=5)
    status: int = response.status
    return status


async def test_health_reports_tools_by_their_endpoints(mesh: Mesh) -> None:
    assert await check(mesh, "") == SERVING
    for service in INTERNAL_SERVICES:
        assert await check(mesh, service) == SERVING
    assert await check(mesh, "demo.v1.Echo") == SERVING  # one endpoint
    assert await check(mesh, "q.v1.Quiet") == NOT_SERVING  # registered, no endpoint
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await check(mesh, "nobody.v1.Nothing")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_follows_catalog_changes(mesh: Mesh) -> None:
    watch = mesh.health.Watch(health_pb2.HealthCheckRequest(service="q.v1.Quiet"), timeout=5)
    statuses = watch.__aiter__()

    async def next_status() -> int:
        response = await asyncio.wait_for(statuses.__anext__(), 2)
        status: int = response.status
        return status

    assert await next_status() == NOT_SERVING
    quiet = bare_tool("quiet", "q.v1.Quiet")
    quiet.instances.add(address="127.0.0.1:9", instance_id="i-1")
    mesh.holder.replace(catalog_of(*mesh.states(with_quiet=False), quiet, version=8))
    assert await next_status() == SERVING
    mesh.holder.replace(catalog_of(*mesh.states(with_quiet=False), version=9))
    assert await next_status() == SERVICE_UNKNOWN
    watch.cancel()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await check(mesh, "q.v1.Quiet")
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


async def test_stop_turns_health_not_serving() -> None:
    opened = await open_mesh(bind="127.0.0.1:0")
    watch = opened.health.Watch(health_pb2.HealthCheckRequest(service=""), timeout=5)
    statuses = watch.__aiter__()
    try:
        first = await asyncio.wait_for(statuses.__anext__(), 2)
        assert first.status == SERVING
        stopping = asyncio.create_task(opened.server.stop(0.2))
        second = await asyncio.wait_for(statuses.__anext__(), 2)
        assert second.status == NOT_SERVING
        await stopping
    finally:
        await opened.channel.close(None)
        await opened.tool.stop()


# -- reflection ----------------------------------------------------------------------------


def files_of(response: Any) -> list[descriptor_pb2.FileDescriptorProto]:
    assert response.WhichOneof("message_response") == "file_descriptor_response", response
    return [
        descriptor_pb2.FileDescriptorProto.FromString(data)
        for data in response.file_descriptor_response.file_descriptor_proto
    ]


@pytest.mark.parametrize("v1", [False, True], ids=["v1alpha", "v1"])
async def test_reflection_lists_tool_and_internal_services(mesh: Mesh, v1: bool) -> None:
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = await mesh.reflect(request, v1=v1)
    listed = [service.name for service in response.list_services_response.service]
    assert listed == sorted(INTERNAL_SERVICES | {"demo.v1.Echo", "q.v1.Quiet"})


@pytest.mark.parametrize("v1", [False, True], ids=["v1alpha", "v1"])
async def test_file_containing_a_service_comes_with_its_dependencies(mesh: Mesh, v1: bool) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="demo.v1.Echo")
    files = files_of(await mesh.reflect(request, v1=v1))
    assert [f.name for f in files] == [
        "demo/v1/echo.proto",
        "demo/v1/common.proto",
        "google/protobuf/timestamp.proto",
    ]
    assert files[0].HasField("source_code_info")  # registered files keep their comments


@pytest.mark.parametrize(
    ("symbol", "file"),
    [
        ("demo.v1.Echo.Say", "demo/v1/echo.proto"),
        ("demo.v1.SayRequest", "demo/v1/echo.proto"),
        ("demo.v1.Origin", "demo/v1/common.proto"),
        ("demo.v1.Kitchen.Mood", "demo/v1/kitchen.proto"),
        ("demo.v1.Kitchen.Spoon", "demo/v1/kitchen.proto"),
        ("toolmesh.v1.Sidecar", "toolmesh/v1/sidecar.proto"),
        ("toolmesh.v1.Sidecar.Invoke", "toolmesh/v1/sidecar.proto"),
        ("grpc.health.v1.Health", "grpc_health/v1/health.proto"),
        ("grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"),
        ("grpc.reflection.v1.ServerReflectionRequest", "grpc/reflection/v1/reflection.proto"),
        ("grpc.reflection.v1alpha.ServerReflection", "grpc_reflection/v1alpha/reflection.proto"),
    ],
)
async def test_file_containing_symbol(mesh: Mesh, symbol: str, file: str) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol=symbol)
    files = files_of(await mesh.reflect(request))
    assert files[0].name == file


async def test_internal_files_resolve_their_imports(mesh: Mesh) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="toolmesh.v1.Sidecar")
    names = [f.name for f in files_of(await mesh.reflect(request))]
    assert names == ["toolmesh/v1/sidecar.proto", "google/protobuf/struct.proto"]


async def test_unknown_symbol_is_not_found(mesh: Mesh) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_containing_symbol="nope.v1.Nothing")
    response = await mesh.reflect(request)
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "nope.v1.Nothing" in response.error_response.error_message
    assert response.original_request == request


async def test_file_by_filename(mesh: Mesh) -> None:
    request = reflection_pb2.ServerReflectionRequest(file_by_filename="demo/v1/common.proto")
    names = [f.name for f in files_of(await mesh.reflect(request))]
    assert names == ["demo/v1/common.proto", "google/protobuf/timestamp.proto"]
    missing = reflection_pb2.ServerReflectionRequest(file_by_filename="demo/v1/missing.proto")
    response = await mesh.reflect(missing)
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_extension_requests(mesh: Mesh) -> None:
    request = reflection_pb2.ServerReflectionRequest(all_extension_numbers_of_type="demo.v1.Origin")
    response = await mesh.reflect(request)
    assert response.all_extension_numbers_response.base_type_name == "demo.v1.Origin"
    assert list(response.all_extension_numbers_response.extension_number) == []
    request = reflection_pb2.ServerReflectionRequest(
        file_containing_extension=reflection_pb2.ExtensionRequest(
            containing_type="demo.v1.Origin", extension_number=100
        )
    )
    response = await mesh.reflect(request)
    assert response.error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_reflection_follows_the_catalog(mesh: Mesh) -> None:
    mesh.holder.replace(catalog_of(bare_tool("late", "late.v1.Late"), version=10))
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = await mesh.reflect(request)
    listed = {service.name for service in response.list_services_response.service}
    assert "late.v1.Late" in listed and "demo.v1.Echo" not in listed
    gone = reflection_pb2.ServerReflectionRequest(file_containing_symbol="demo.v1.Echo")
    assert (await mesh.reflect(gone)).HasField("error_response")


# -- ListTools -----------------------------------------------------------------------------


async def test_list_tools(mesh: Mesh) -> None:
    response = await mesh.sidecar.ListTools(sidecar_pb2.SidecarListToolsRequest(), timeout=5)
    assert (response.catalog_version, response.from_cache) == (7, False)
    assert [tool.name for tool in response.tools] == ["echo", "kitchen", "quiet"]
    echo = response.tools[0]
    assert (echo.version, echo.description, echo.endpoint_count) == ("1.2.3", "Echoes.", 1)
    assert list(echo.services) == ["demo.v1.Echo"]
    methods = {method.name: method for method in echo.methods}
    assert list(methods) == ["Say", "Count", "Sum", "Chat", "Fail"]
    say = methods["Say"]
    assert (say.path, say.input_type, say.output_type) == (
        "/demo.v1.Echo/Say",
        "demo.v1.SayRequest",
        "demo.v1.SayReply",
    )
    assert say.description == "Answers one message."
    assert (methods["Count"].client_streaming, methods["Count"].server_streaming) == (False, True)
    assert (methods["Chat"].client_streaming, methods["Chat"].server_streaming) == (True, True)
    schema = json_format.MessageToDict(say.input_schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["text"] == {"type": "string", "description": "The text to echo."}
    output = json_format.MessageToDict(say.output_schema)
    assert output["properties"]["deadlineMs"]["type"] == "string"
    kitchen, quiet = response.tools[1], response.tools[2]
    assert (kitchen.endpoint_count, list(kitchen.methods)) == (0, [])
    assert list(quiet.services) == ["q.v1.Quiet"]


async def test_list_tools_without_description_uses_service_comments(mesh: Mesh) -> None:
    mesh.holder.replace(catalog_of(tool_state("plain"), version=3, from_cache=True))
    response = await mesh.sidecar.ListTools(sidecar_pb2.SidecarListToolsRequest(), timeout=5)
    assert (response.catalog_version, response.from_cache) == (3, True)
    assert response.tools[0].description == "Echoes what it is told, in every streaming shape."


# -- Invoke --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["echo/Say", "demo.v1.Echo/Say", "/demo.v1.Echo/Say"])
async def test_invoke_unary_by_every_name_form(mesh: Mesh, method: str) -> None:
    response = await mesh.invoke(method, {"text": "ab", "times": 2})
    reply = json.loads(response.response_json)
    assert reply["text"] == "abab"
    assert list(response.stream_json) == []


async def test_invoke_passes_metadata_and_deadline(mesh: Mesh) -> None:
    response = await mesh.invoke(
        "echo/Say",
        {"text": "x"},
        metadata={"x-tenant": "acme", "x-blob-bin": "AAE"},
        timeout_ms=1500,
    )
    reply = json.loads(response.response_json)
    assert reply["seenMetadata"]["x-tenant"] == "acme"
    assert reply["seenMetadata"]["x-blob-bin"] == "0001"
    # grpc-timeout is rounded up on the wire (to a few significant digits).
    assert 1000 < int(reply["deadlineMs"]) <= 1600


async def test_invoke_without_timeout_uses_the_callers_deadline(mesh: Mesh) -> None:
    response = await mesh.sidecar.Invoke(
        sidecar_pb2.InvokeRequest(method="echo/Say", request_json="{}"), timeout=3
    )
    # grpc-timeout is rounded up on the wire (to a few significant digits).
    assert 2000 < int(json.loads(response.response_json)["deadlineMs"]) <= 3100


async def test_invoke_server_streaming_collects_every_message(mesh: Mesh) -> None:
    response = await mesh.invoke("echo/Count", {"upTo": 3})
    assert [json.loads(item) for item in response.stream_json] == [
        {"value": 1},
        {"value": 2},
        {"value": 3},
    ]
    assert json.loads(response.response_json) == {"value": 3}


async def test_invoke_client_streaming_takes_an_array(mesh: Mesh) -> None:
    response = await mesh.invoke("echo/Sum", [{"value": "2"}, {"value": 40}, {}])
    assert json.loads(response.response_json) == {"sum": "42", "count": 3}


async def test_invoke_bidi_streaming(mesh: Mesh) -> None:
    response = await mesh.invoke("demo.v1.Echo/Chat", [{"text": "a"}, {"text": "b"}])
    assert [json.loads(item)["text"] for item in response.stream_json] == [
        "you said a",
        "you said b",
    ]
    assert json.loads(response.response_json)["text"] == "you said b"


async def test_invoke_returns_the_tools_status_unchanged(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke("echo/Fail", {"code": 9, "message": "not now, try later"})
    assert raised.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert raised.value.details() == "not now, try later"
    trailing: list[Any] = list(raised.value.trailing_metadata() or ())
    assert ("failure-reason", "asked") in trailing


@pytest.mark.parametrize(
    ("request_json", "needle"),
    [
        ('{"text": ', "request_json is not valid JSON"),
        ('{"text": 5}', "text"),
        ('{"txt": "a"}', "txt"),
        ('{"times": "many"}', "times"),
        ("[1, 2]", "must be a JSON object with the fields of demo.v1.SayRequest"),
    ],
)
async def test_invoke_bad_json_is_invalid_argument_naming_the_problem(
    mesh: Mesh, request_json: str, needle: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke("echo/Say", request_json)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (raised.value.details() or "")


async def test_invoke_bad_stream_item_names_its_index(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke("echo/Sum", [{"value": "1"}, {"value": "x"}])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "request_json[1]" in (raised.value.details() or "")


@pytest.mark.parametrize(
    ("method", "needles"),
    [
        ("nobody/Say", ["'nobody'", "registered tools: echo, kitchen, quiet"]),
        ("echo/Shout", ["tool 'echo' has no method 'Shout'", "Chat, Count, Fail, Say, Sum"]),
        ("demo.v1.Echo/Shout", ["service 'demo.v1.Echo'", "no method 'Shout'"]),
        ("/echo/Say", ["no tool or service named 'echo'"]),
    ],
)
async def test_invoke_unknown_method_is_not_found_naming_it(
    mesh: Mesh, method: str, needles: list[str]
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke(method, {})
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    for needle in needles:
        assert needle in (raised.value.details() or "")


@pytest.mark.parametrize(
    ("metadata", "needle"),
    [
        ({"X-Upper": "a"}, "'X-Upper' is invalid"),
        ({"grpc-timeout": "1S"}, "reserved"),
        ({"x-text": "tab\there"}, "printable ASCII"),
        ({"x-data-bin": "!!"}, "base64"),
    ],
)
async def test_invoke_bad_metadata_is_invalid_argument(
    mesh: Mesh, metadata: dict[str, str], needle: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke("echo/Say", {}, metadata=metadata)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert needle in (raised.value.details() or "")


async def test_invoke_malformed_method_name(mesh: Mesh) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke("Say", {})
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "TOOL/METHOD" in (raised.value.details() or "")


async def test_invoke_with_the_tool_down_is_unavailable(mesh: Mesh) -> None:
    await mesh.tool.stop()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await mesh.invoke("echo/Say", {}, timeout_ms=2000)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
