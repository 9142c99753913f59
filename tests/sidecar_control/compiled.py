"""The test protos (protos/demo/v1/*.proto) compiled with source info, and ToolStates of them."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Iterable
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from mesh.api.v1 import registry_pb2

PROTO_ROOT = Path(__file__).parent / "protos"
_WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"


@functools.cache
def descriptor_set(*files: str) -> descriptor_pb2.FileDescriptorSet:
    """`files` (paths under protos/) with their imports, as protoc --include_source_info makes."""
    with tempfile.TemporaryDirectory() as out:
        target = Path(out) / "set.pb"
        status = protoc.main(
            [
                "protoc",
                f"-I{PROTO_ROOT}",
                f"-I{_WELL_KNOWN}",
                "--include_imports",
                "--include_source_info",
                f"--descriptor_set_out={target}",
                *files,
            ]
        )
        assert status == 0, f"protoc failed on {files}"
        return descriptor_pb2.FileDescriptorSet.FromString(target.read_bytes())


def echo_files() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_set("demo/v1/echo.proto")


def kitchen_files() -> descriptor_pb2.FileDescriptorSet:
    return descriptor_set("demo/v1/kitchen.proto")


def tool_state(
    name: str,
    *,
    files: descriptor_pb2.FileDescriptorSet | None = None,
    endpoints: Iterable[str] = (),
    instances: Iterable[str] = (),
    services: Iterable[str] = (),
    version: str = "",
    description: str = "",
) -> registry_pb2.ToolState:
    """A ToolState as the registry would send it (Echo's descriptors by default)."""
    tool = registry_pb2.Tool(
        name=name,
        version=version,
        description=description,
        services=list(services),
        endpoints=[registry_pb2.Endpoint(address=address) for address in endpoints],
    )
    tool.descriptors.CopyFrom(files if files is not None else echo_files())
    return registry_pb2.ToolState(
        tool=tool,
        instances=[
            registry_pb2.Endpoint(address=address, instance_id=address) for address in instances
        ],
    )


def bare_tool(name: str, service: str) -> registry_pb2.ToolState:
    """A tool with one empty service `service` in its own file (cheap, for watcher tests)."""
    package, _, short = service.rpartition(".")
    files = descriptor_pb2.FileDescriptorSet()
    proto = files.file.add(name=f"{name}.proto", package=package, syntax="proto3")
    proto.service.add(name=short)
    return tool_state(name, files=files)
