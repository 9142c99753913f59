"""Descriptor sets of the tools the benchmark registers.

The echo tool is registered with its real descriptors. The extra tools of the memory
measurement are copies of echo.proto whose package (and so every service and message name)
is renamed, so each copy is a distinct tool of realistic size and no service collides.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import FileDescriptor

from examples.tools.gen.echo.v1 import echo_pb2


def file_set(file: FileDescriptor) -> descriptor_pb2.FileDescriptorSet:
    """`file` and every file it imports, transitively, dependencies first."""
    files = descriptor_pb2.FileDescriptorSet()
    added: set[str] = set()

    def add(current: FileDescriptor) -> None:
        if current.name in added:
            return
        added.add(current.name)
        for dependency in current.dependencies:
            add(dependency)
        current.CopyToProto(files.file.add())

    add(file)
    return files


def echo_file_set() -> descriptor_pb2.FileDescriptorSet:
    """The descriptors of the echo tool (`echo.v1.Echo`)."""
    return file_set(echo_pb2.DESCRIPTOR)


def renamed_echo(package: str) -> descriptor_pb2.FileDescriptorSet:
    """A copy of echo.proto in `package` (e.g. `bench.t007.v1`): service `PACKAGE.Echo`."""
    original = descriptor_pb2.FileDescriptorProto()
    echo_pb2.DESCRIPTOR.CopyToProto(original)
    if original.dependency:
        raise ValueError(f"{original.name} now imports {list(original.dependency)}; copy them too")
    old_prefix = f".{original.package}."
    new_prefix = f".{package}."
    copy = descriptor_pb2.FileDescriptorProto()
    copy.CopyFrom(original)
    copy.name = f"{package.replace('.', '/')}/echo.proto"
    copy.package = package
    for message in copy.message_type:
        for field in message.field:
            if field.type_name.startswith(old_prefix):
                field.type_name = new_prefix + field.type_name[len(old_prefix) :]
    for service in copy.service:
        for method in service.method:
            method.input_type = new_prefix + method.input_type[len(old_prefix) :]
            method.output_type = new_prefix + method.output_type[len(old_prefix) :]
    files = descriptor_pb2.FileDescriptorSet()
    files.file.append(copy)
    return files
