"""A tool's protobuf descriptors: validation and lookups shared by registry and sidecar."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

# Files a descriptor set may leave out: the sidecar adds them from protobuf's own copies.
_WELL_KNOWN_PREFIX = "google/protobuf/"


class DescriptorError(ValueError):
    """A descriptor set that cannot describe a tool; the message names the file and problem."""


@dataclass(frozen=True, slots=True)
class MethodShape:
    """What the mesh needs to know of one method, without the pool behind it."""

    service: str  # fully qualified service name
    name: str  # short method name
    input_type: str  # fully qualified message name
    output_type: str
    client_streaming: bool
    server_streaming: bool

    @property
    def path(self) -> str:
        """The HTTP/2 `:path` of the method."""
        return f"/{self.service}/{self.name}"


def build_pool(files: descriptor_pb2.FileDescriptorSet) -> descriptor_pool.DescriptorPool:
    """Loads every file of `files` (dependencies first) into a fresh pool.

    Well-known types missing from the set are taken from protobuf's own copies. Raises
    DescriptorError naming the first file that cannot be loaded and why.
    """
    pool = descriptor_pool.DescriptorPool()
    by_name: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for proto in files.file:
        if not proto.name:
            raise DescriptorError("descriptors: a file has no name")
        if proto.name in by_name and by_name[proto.name] != proto:
            raise DescriptorError(
                f"descriptors: file {proto.name!r} appears twice with different contents"
            )
        by_name[proto.name] = proto
    added: set[str] = set()

    def add(name: str, chain: tuple[str, ...]) -> None:
        if name in added:
            return
        if name in chain:
            raise DescriptorError(f"descriptors: import cycle {' -> '.join((*chain, name))}")
        proto = by_name.get(name)
        if proto is None:
            if name.startswith(_WELL_KNOWN_PREFIX):
                _add_well_known(pool, name)
                added.add(name)
                return
            importer = chain[-1] if chain else "?"
            raise DescriptorError(
                f"descriptors: file {importer!r} imports {name!r}, which is not in the set"
            )
        for dependency in proto.dependency:
            add(dependency, (*chain, name))
        try:
            pool.Add(proto)
            pool.FindFileByName(name)  # forces the pool to resolve every type reference
        except Exception as error:  # protobuf raises TypeError/KeyError/its own errors here
            raise DescriptorError(f"descriptors: file {name!r} is invalid: {error}") from None
        added.add(name)

    for name in by_name:
        add(name, ())
    return pool


def _add_well_known(pool: descriptor_pool.DescriptorPool, name: str) -> None:
    default = descriptor_pool.Default()
    try:
        file = default.FindFileByName(name)
    except KeyError:
        raise DescriptorError(f"descriptors: {name!r} is not a well-known type file") from None
    proto = descriptor_pb2.FileDescriptorProto()
    file.CopyToProto(proto)
    for dependency in proto.dependency:
        try:
            pool.FindFileByName(dependency)
        except KeyError:
            _add_well_known(pool, dependency)
    pool.Add(proto)


def services_in(files: descriptor_pb2.FileDescriptorSet) -> list[str]:
    """Fully qualified names of every service defined in `files`, in file order."""
    names: list[str] = []
    for proto in files.file:
        prefix = f"{proto.package}." if proto.package else ""
        names.extend(prefix + service.name for service in proto.service)
    return names


def served_services(
    declared: Iterable[str], files: descriptor_pb2.FileDescriptorSet
) -> tuple[str, ...]:
    """The services a tool serves: those it `declared`, or, when it declared none, every
    service its descriptor set defines (the rule the registry and the sidecar share)."""
    return tuple(declared) or tuple(services_in(files))


def find_service(pool: descriptor_pool.DescriptorPool, name: str) -> ServiceDescriptor:
    """The service `name`; raises DescriptorError when the pool does not define it."""
    try:
        return pool.FindServiceByName(name)
    except KeyError:
        raise DescriptorError(
            f"service {name!r} is not defined in the tool's descriptors"
        ) from None


def method_shapes(
    pool: descriptor_pool.DescriptorPool, services: Iterable[str]
) -> list[MethodShape]:
    """Every method of `services`, in declaration order."""
    shapes: list[MethodShape] = []
    for service_name in services:
        service = find_service(pool, service_name)
        shapes.extend(_shape(service, method) for method in service.methods)
    return shapes


def _shape(service: ServiceDescriptor, method: MethodDescriptor) -> MethodShape:
    return MethodShape(
        service=service.full_name,
        name=method.name,
        input_type=method.input_type.full_name,
        output_type=method.output_type.full_name,
        client_streaming=method.client_streaming,
        server_streaming=method.server_streaming,
    )
