"""Comments from a descriptor set's source info, by the fully qualified name of what they describe.

Descriptor pools drop `source_code_info`, so comments are read from the registered
`FileDescriptorSet` itself (present when the tool's descriptors were built with
`--include_source_info`). Keys: `pkg.Message`, `pkg.Message.field`, `pkg.Message.Nested`,
`pkg.Enum`, `pkg.Enum.VALUE` (scoped by the enum, unlike protobuf's own sibling scoping),
`pkg.Message.oneof_name`, `pkg.Service` and `pkg.Service.Method`.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import descriptor_pb2

# Field numbers of FileDescriptorProto, DescriptorProto, EnumDescriptorProto and
# ServiceDescriptorProto, as used in SourceCodeInfo.Location paths.
_FILE_MESSAGE_TYPE = 4
_FILE_ENUM_TYPE = 5
_FILE_SERVICE = 6
_MESSAGE_FIELD = 2
_MESSAGE_NESTED_TYPE = 3
_MESSAGE_ENUM_TYPE = 4
_MESSAGE_ONEOF_DECL = 8
_ENUM_VALUE = 2
_SERVICE_METHOD = 2

_Path = tuple[int, ...]


def comments_by_symbol(files: descriptor_pb2.FileDescriptorSet) -> Mapping[str, str]:
    """{full name: comment} for every commented element of `files` (leading comment first,
    else the trailing one), with comment markers' leading spaces removed and ends trimmed."""
    found: dict[str, str] = {}
    for file in files.file:
        _collect_file(file, found)
    return found


def _collect_file(file: descriptor_pb2.FileDescriptorProto, found: dict[str, str]) -> None:
    texts: dict[_Path, str] = {}
    for location in file.source_code_info.location:
        text = _clean(location.leading_comments) or _clean(location.trailing_comments)
        if text:
            texts[tuple(location.path)] = text
    if not texts:
        return
    prefix = f"{file.package}." if file.package else ""
    for index, message in enumerate(file.message_type):
        _collect_message(message, prefix, (_FILE_MESSAGE_TYPE, index), texts, found)
    for index, enum in enumerate(file.enum_type):
        _collect_enum(enum, prefix, (_FILE_ENUM_TYPE, index), texts, found)
    for index, service in enumerate(file.service):
        name = prefix + service.name
        _put(found, name, texts.get((_FILE_SERVICE, index)))
        for method_index, method in enumerate(service.method):
            path = (_FILE_SERVICE, index, _SERVICE_METHOD, method_index)
            _put(found, f"{name}.{method.name}", texts.get(path))


def _collect_message(
    message: descriptor_pb2.DescriptorProto,
    prefix: str,
    path: _Path,
    texts: Mapping[_Path, str],
    found: dict[str, str],
) -> None:
    name = prefix + message.name
    _put(found, name, texts.get(path))
    for index, field in enumerate(message.field):
        _put(found, f"{name}.{field.name}", texts.get((*path, _MESSAGE_FIELD, index)))
    for index, oneof in enumerate(message.oneof_decl):
        _put(found, f"{name}.{oneof.name}", texts.get((*path, _MESSAGE_ONEOF_DECL, index)))
    for index, nested in enumerate(message.nested_type):
        _collect_message(nested, f"{name}.", (*path, _MESSAGE_NESTED_TYPE, index), texts, found)
    for index, enum in enumerate(message.enum_type):
        _collect_enum(enum, f"{name}.", (*path, _MESSAGE_ENUM_TYPE, index), texts, found)


def _collect_enum(
    enum: descriptor_pb2.EnumDescriptorProto,
    prefix: str,
    path: _Path,
    texts: Mapping[_Path, str],
    found: dict[str, str],
) -> None:
    name = prefix + enum.name
    _put(found, name, texts.get(path))
    for index, value in enumerate(enum.value):
        _put(found, f"{name}.{value.name}", texts.get((*path, _ENUM_VALUE, index)))


def _put(found: dict[str, str], name: str, text: str | None) -> None:
    if text:
        found[name] = text


def _clean(comment: str) -> str:
    # protoc keeps the space after `//` on every line; drop one leading space per line.
    lines = [line[1:] if line.startswith(" ") else line for line in comment.splitlines()]
    return "\n".join(lines).strip()
