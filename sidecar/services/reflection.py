"""gRPC server reflection (v1 and v1alpha) over the live catalog, so `grpcurl` works on the sidecar.

grpcio-reflection's servicer answers from one static pool; the sidecar's services change
with the registry and each tool brings its own pool. This servicer reads the holder's current
catalog on every request and answers from the right pool: the tool owning the symbol first,
then the sidecar's own services, then every other tool. File answers carry the file and all
its transitive dependencies (the file asked for first), taken from the tool's registered
descriptor set where possible so they keep their source info (comments for `describe`).

v1 and v1alpha have the same messages under different package names, hence identical wire
forms: one handler serves both, using grpcio-reflection's v1alpha message classes.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import FileDescriptor
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from mesh.api.v1 import sidecar_pb2
from mesh.descriptors import DescriptorError
from sidecar.catalog import Catalog, CatalogHolder, ToolEntry
from sidecar.services.names import (
    INTERNAL_SERVICES,
    REFLECTION_V1_SERVICE,
    REFLECTION_V1ALPHA_SERVICE,
)

_V1ALPHA_FILE = "grpc_reflection/v1alpha/reflection.proto"
_V1_FILE = "grpc/reflection/v1/reflection.proto"
_V1ALPHA_PACKAGE = "grpc.reflection.v1alpha"
_V1_PACKAGE = "grpc.reflection.v1"


@dataclass(frozen=True)
class DescriptorSource:
    """A pool to search, and the original file protos (with source info) to answer with."""

    name: str  # for messages: a tool name or "sidecar"
    pool: descriptor_pool.DescriptorPool
    originals: Mapping[str, descriptor_pb2.FileDescriptorProto] = field(default_factory=dict)


@functools.cache
def internal_source() -> DescriptorSource:
    """The sidecar's own services: health, reflection v1alpha and v1, toolmesh.v1.Sidecar."""
    default = descriptor_pool.Default()
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file: FileDescriptor) -> None:
        if file.name in added:
            return
        for dependency in file.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file.CopyToProto(proto)
        pool.Add(proto)
        added.add(file.name)

    for module_file in (
        health_pb2.DESCRIPTOR,
        reflection_pb2.DESCRIPTOR,
        sidecar_pb2.DESCRIPTOR,
    ):
        add(default.FindFileByName(module_file.name))
    pool.Add(_v1_reflection_file(default.FindFileByName(_V1ALPHA_FILE)))
    return DescriptorSource(name="sidecar", pool=pool)


def _v1_reflection_file(v1alpha: FileDescriptor) -> descriptor_pb2.FileDescriptorProto:
    """grpc.reflection.v1's file, derived from v1alpha's: same messages, renamed package."""
    proto = descriptor_pb2.FileDescriptorProto()
    v1alpha.CopyToProto(proto)
    proto.name = _V1_FILE
    proto.package = _V1_PACKAGE
    old, new = f".{_V1ALPHA_PACKAGE}.", f".{_V1_PACKAGE}."

    def rename(type_name: str) -> str:
        return new + type_name[len(old) :] if type_name.startswith(old) else type_name

    pending = list(proto.message_type)
    while pending:
        message = pending.pop()
        pending.extend(message.nested_type)
        for message_field in message.field:
            if message_field.HasField("type_name"):  # assigning "" would make it present
                message_field.type_name = rename(message_field.type_name)
    for service in proto.service:
        for method in service.method:
            method.input_type = rename(method.input_type)
            method.output_type = rename(method.output_type)
    proto.options.java_package = "io.grpc.reflection.v1"
    proto.options.go_package = "google.golang.org/grpc/reflection/grpc_reflection_v1"
    return proto


def tool_source(entry: ToolEntry) -> DescriptorSource | None:
    """The tool's pool and registered files; None when its descriptors cannot be loaded."""
    try:
        pool = entry.pool
    except DescriptorError:
        return None
    originals = {proto.name: proto for proto in entry.state.tool.descriptors.file}
    return DescriptorSource(name=entry.name, pool=pool, originals=originals)


class ReflectionIndex:
    """Reflection answers for one catalog. Serialized files are memoized per source."""

    def __init__(self, catalog: Catalog, internal: DescriptorSource) -> None:
        self._catalog = catalog
        self._internal = internal
        self._tools: dict[str, DescriptorSource | None] = {}
        self._serialized: dict[tuple[str, str], list[bytes]] = {}

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    def services(self) -> list[str]:
        """Every service the sidecar answers for, sorted."""
        return sorted(INTERNAL_SERVICES | set(self._catalog.by_service))

    def file_by_filename(self, filename: str) -> list[bytes] | None:
        for source in self._sources():
            try:
                file = source.pool.FindFileByName(filename)
            except KeyError:
                continue
            return self._with_dependencies(source, file)
        return None

    def file_containing_symbol(self, symbol: str) -> list[bytes] | None:
        for source in self._sources(self._owner_of(symbol)):
            file = _find_symbol(source.pool, symbol)
            if file is not None:
                return self._with_dependencies(source, file)
        return None

    def file_containing_extension(self, containing_type: str, number: int) -> list[bytes] | None:
        for source in self._sources(self._owner_of(containing_type)):
            try:
                message = source.pool.FindMessageTypeByName(containing_type)
                extension = source.pool.FindExtensionByNumber(message, number)
            except KeyError:
                continue
            file = source.pool.FindFileContainingSymbol(extension.full_name)
            return self._with_dependencies(source, file)
        return None

    def extension_numbers(self, containing_type: str) -> tuple[str, list[int]] | None:
        for source in self._sources(self._owner_of(containing_type)):
            try:
                message = source.pool.FindMessageTypeByName(containing_type)
            except KeyError:
                continue
            numbers = sorted(ext.number for ext in source.pool.FindAllExtensions(message))
            return message.full_name, numbers
        return None

    def _owner_of(self, symbol: str) -> ToolEntry | None:
        """The tool whose service `symbol` is, or whose method (`pkg.Service.Method`) it is."""
        entry = self._catalog.by_service.get(symbol)
        if entry is None:
            entry = self._catalog.by_service.get(symbol.rpartition(".")[0])
        return entry

    def _sources(self, first: ToolEntry | None = None) -> Iterable[DescriptorSource]:
        if first is not None:
            source = self._tool(first)
            if source is not None:
                yield source
        yield self._internal
        for entry in self._catalog.tools.values():
            if entry is not first:
                source = self._tool(entry)
                if source is not None:
                    yield source

    def _tool(self, entry: ToolEntry) -> DescriptorSource | None:
        if entry.name not in self._tools:
            self._tools[entry.name] = tool_source(entry)
        return self._tools[entry.name]

    def _with_dependencies(self, source: DescriptorSource, file: FileDescriptor) -> list[bytes]:
        key = (source.name, file.name)
        cached = self._serialized.get(key)
        if cached is None:
            cached = [_serialize(source, each) for each in _transitive(file)]
            self._serialized[key] = cached
        return cached


def _find_symbol(pool: descriptor_pool.DescriptorPool, symbol: str) -> FileDescriptor | None:
    try:
        return pool.FindFileContainingSymbol(symbol)
    except KeyError:
        pass
    # The upb pool does not index methods: look `pkg.Service.Method` up through its service.
    service_name, _, method = symbol.rpartition(".")
    if not service_name:
        return None
    try:
        service = pool.FindServiceByName(service_name)
    except KeyError:
        return None
    return service.file if method in service.methods_by_name else None


def _transitive(file: FileDescriptor) -> list[FileDescriptor]:
    """`file` first, then every file it imports, directly or not, each once."""
    ordered: list[FileDescriptor] = []
    seen: set[str] = set()
    pending = [file]
    while pending:
        current = pending.pop(0)
        if current.name in seen:
            continue
        seen.add(current.name)
        ordered.append(current)
        pending.extend(current.dependencies)
    return ordered


def _serialize(source: DescriptorSource, file: FileDescriptor) -> bytes:
    original = source.originals.get(file.name)
    if original is not None:
        return original.SerializeToString()
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    return proto.SerializeToString()


class CatalogReflection:
    """The ServerReflection servicer; `handlers()` serves it as v1 and v1alpha."""

    def __init__(self, holder: CatalogHolder, internal: DescriptorSource | None = None) -> None:
        self._holder = holder
        self._internal = internal or internal_source()
        self._index: ReflectionIndex | None = None

    def index(self) -> ReflectionIndex:
        """The index of the holder's current catalog (rebuilt when the catalog changed)."""
        catalog = self._holder.catalog
        if self._index is None or self._index.catalog is not catalog:
            self._index = ReflectionIndex(catalog, self._internal)
        return self._index

    def handlers(self) -> list[grpc.GenericRpcHandler[Any, Any]]:
        method = grpc.stream_stream_rpc_method_handler(
            self.server_reflection_info,
            request_deserializer=reflection_pb2.ServerReflectionRequest.FromString,
            response_serializer=reflection_pb2.ServerReflectionResponse.SerializeToString,
        )
        return [
            grpc.method_handlers_generic_handler(name, {"ServerReflectionInfo": method})
            for name in (REFLECTION_V1_SERVICE, REFLECTION_V1ALPHA_SERVICE)
        ]

    async def server_reflection_info(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[Any]:
        async for request in requests:
            yield self.answer(request)

    def answer(self, request: Any) -> Any:
        """The response to one ServerReflectionRequest."""
        index = self.index()
        kind = request.WhichOneof("message_request")
        response = reflection_pb2.ServerReflectionResponse(
            valid_host=request.host, original_request=request
        )
        if kind == "list_services":
            response.list_services_response.service.extend(
                reflection_pb2.ServiceResponse(name=name) for name in index.services()
            )
        elif kind == "file_by_filename":
            files = index.file_by_filename(request.file_by_filename)
            _fill(response, files, f"file {request.file_by_filename!r} not found")
        elif kind == "file_containing_symbol":
            symbol = request.file_containing_symbol
            files = index.file_containing_symbol(symbol)
            _fill(response, files, f"symbol {symbol!r} not found")
        elif kind == "file_containing_extension":
            asked = request.file_containing_extension
            files = index.file_containing_extension(asked.containing_type, asked.extension_number)
            _fill(
                response,
                files,
                f"extension {asked.extension_number} of {asked.containing_type!r} not found",
            )
        elif kind == "all_extension_numbers_of_type":
            found = index.extension_numbers(request.all_extension_numbers_of_type)
            if found is None:
                _error(
                    response,
                    grpc.StatusCode.NOT_FOUND,
                    f"type {request.all_extension_numbers_of_type!r} not found",
                )
            else:
                base, numbers = found
                response.all_extension_numbers_response.base_type_name = base
                response.all_extension_numbers_response.extension_number.extend(numbers)
        else:
            _error(response, grpc.StatusCode.INVALID_ARGUMENT, "the request asks for nothing")
        return response


def _fill(response: Any, files: list[bytes] | None, not_found: str) -> None:
    if files is None:
        _error(response, grpc.StatusCode.NOT_FOUND, not_found)
    else:
        response.file_descriptor_response.file_descriptor_proto.extend(files)


def _error(response: Any, code: grpc.StatusCode, message: str) -> None:
    response.error_response.error_code = code.value[0]
    response.error_response.error_message = message
