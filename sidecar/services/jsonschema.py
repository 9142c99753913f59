"""JSON Schema (draft 2020-12) of a protobuf message's JSON form, for LLM function calling.

Pure: a message descriptor (and optional comments) in, a JSON-ready dict out. The schema
follows protobuf's canonical JSON mapping, as `google.protobuf.json_format` prints it:

- properties are named by `json_name` (lowerCamelCase); unknown properties are refused,
  as `json_format.Parse` refuses them;
- 64-bit integers are decimal strings; 32-bit integers are bounded integers; floats are
  numbers or "NaN"/"Infinity"/"-Infinity"; bytes are base64 strings; enums are value names;
- repeated fields are arrays; maps are objects (keys are strings, validated per key type);
- the members of a oneof are mutually exclusive (proto3 `optional` is no such constraint);
- well-known types take their special forms: Timestamp (RFC 3339 string), Duration
  (`"1.5s"`), FieldMask (string), Struct (object), Value (any), ListValue (array),
  NullValue (null), wrappers (the wrapped scalar), Any (object with `@type`), Empty ({}).

Message types are inlined where they are used, except those used more than once or on a
reference cycle, which live in `$defs` (keyed by full name) and are referred to with `$ref`;
a reference back to the root message is `{"$ref": "#"}`. The schema's size therefore grows
linearly with the number of types. Comments, when given, become `description`s.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]

_INT32 = {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}
_UINT32 = {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}
_INT64 = {"type": "string", "pattern": "^-?[0-9]+$", "format": "int64"}
_UINT64 = {"type": "string", "pattern": "^[0-9]+$", "format": "uint64"}
_FLOAT = {"anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]}
_BOOL = {"type": "boolean"}
_STRING = {"type": "string"}
_BYTES = {"type": "string", "contentEncoding": "base64"}

_T = FieldDescriptor
_SCALARS: Mapping[int, Schema] = {
    _T.TYPE_DOUBLE: _FLOAT,
    _T.TYPE_FLOAT: _FLOAT,
    _T.TYPE_INT32: _INT32,
    _T.TYPE_SINT32: _INT32,
    _T.TYPE_SFIXED32: _INT32,
    _T.TYPE_UINT32: _UINT32,
    _T.TYPE_FIXED32: _UINT32,
    _T.TYPE_INT64: _INT64,
    _T.TYPE_SINT64: _INT64,
    _T.TYPE_SFIXED64: _INT64,
    _T.TYPE_UINT64: _UINT64,
    _T.TYPE_FIXED64: _UINT64,
    _T.TYPE_BOOL: _BOOL,
    _T.TYPE_STRING: _STRING,
    _T.TYPE_BYTES: _BYTES,
}

# Map keys are JSON object keys, so always strings: constrain them to the key type's form.
_MAP_KEY_NAMES: Mapping[int, Schema] = {
    _T.TYPE_BOOL: {"enum": ["true", "false"]},
    **{t: {"pattern": "^-?[0-9]+$"} for t in (_T.TYPE_INT32, _T.TYPE_SINT32, _T.TYPE_SFIXED32)},
    **{t: {"pattern": "^-?[0-9]+$"} for t in (_T.TYPE_INT64, _T.TYPE_SINT64, _T.TYPE_SFIXED64)},
    **{t: {"pattern": "^[0-9]+$"} for t in (_T.TYPE_UINT32, _T.TYPE_FIXED32)},
    **{t: {"pattern": "^[0-9]+$"} for t in (_T.TYPE_UINT64, _T.TYPE_FIXED64)},
}

_WELL_KNOWN: Mapping[str, Schema] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 date-time in UTC, e.g. 2024-01-31T12:00:00Z",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": "^-?[0-9]+(\\.[0-9]{1,9})?s$",
        "description": "seconds with an `s` suffix, e.g. 1.5s",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "comma-separated lowerCamelCase field paths, e.g. name,address.city",
    },
    "google.protobuf.Struct": {"type": "object"},
    "google.protobuf.Value": {},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "description": "a message of any type: `@type` is its type URL "
        "(type.googleapis.com/FULL.NAME), the other properties its fields "
        "(or `value` for a well-known type)",
    },
    "google.protobuf.DoubleValue": _FLOAT,
    "google.protobuf.FloatValue": _FLOAT,
    "google.protobuf.Int64Value": _INT64,
    "google.protobuf.UInt64Value": _UINT64,
    "google.protobuf.Int32Value": _INT32,
    "google.protobuf.UInt32Value": _UINT32,
    "google.protobuf.BoolValue": _BOOL,
    "google.protobuf.StringValue": _STRING,
    "google.protobuf.BytesValue": _BYTES,
}
_NULL_VALUE_ENUM = "google.protobuf.NullValue"


def message_schema(descriptor: Descriptor, comments: Mapping[str, str] | None = None) -> Schema:
    """The JSON Schema document of `descriptor`'s JSON form.

    `comments`: {full name: text} as `comments.comments_by_symbol` returns; they become
    `description`s of messages, fields, enums and oneofs. The result holds only dicts,
    lists, strings, ints and bools (ready for json.dumps or a protobuf Struct).
    """
    return _SchemaBuilder(descriptor, comments or {}).document()


def _copy(schema: Schema) -> Schema:
    # The constants above are shared; callers may add keys (description) to what they get.
    return {
        key: _copy(value) if isinstance(value, dict) else value for key, value in schema.items()
    }


class _SchemaBuilder:
    def __init__(self, root: Descriptor, comments: Mapping[str, str]) -> None:
        self._root = root
        self._comments = comments
        self._defs: dict[str, Schema] = {}
        self._shared = _types_to_share(root)

    def document(self) -> Schema:
        document: Schema = {"$schema": JSON_SCHEMA_DIALECT, "title": self._root.full_name}
        special = _WELL_KNOWN.get(self._root.full_name)
        document.update(_copy(special) if special is not None else self._body(self._root))
        if self._defs:
            document["$defs"] = dict(sorted(self._defs.items()))
        return document

    def _body(self, message: Descriptor) -> Schema:
        schema: Schema = {"type": "object"}
        description = self._comments.get(message.full_name)
        if description:
            schema["description"] = description
        properties: Schema = {}
        required: list[str] = []
        for field in message.fields:
            properties[field.json_name] = self._field(field)
            if field.is_required:
                required.append(field.json_name)
        schema["properties"] = properties
        if required:
            schema["required"] = required
        schema["additionalProperties"] = False
        exclusive = [self._at_most_one(members) for members in _real_oneofs(message)]
        if exclusive:
            schema["allOf"] = exclusive
        return schema

    @staticmethod
    def _at_most_one(members: list[FieldDescriptor]) -> Schema:
        # Exactly one branch matches: the one member present, or (none present) the last.
        present = [{"required": [field.json_name]} for field in members]
        return {"oneOf": [*present, {"not": {"anyOf": present}}]}

    def _field(self, field: FieldDescriptor) -> Schema:
        entry = field.message_type
        if entry is not None and entry.GetOptions().map_entry:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            schema: Schema = {"type": "object", "additionalProperties": self._value(value)}
            key_names = _MAP_KEY_NAMES.get(key.type)
            if key_names is not None:
                schema["propertyNames"] = _copy(key_names)
        elif field.is_repeated:
            schema = {"type": "array", "items": self._value(field)}
        else:
            schema = self._value(field)
        notes = [self._comments.get(field.full_name, "")]
        oneof = field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:
            others = ", ".join(member.json_name for member in oneof.fields)
            oneof_note = self._comments.get(oneof.full_name, "")
            notes.append(f"Part of oneof `{oneof.name}`: set at most one of {others}.")
            notes.append(oneof_note)
        description = "\n".join(note for note in notes if note)
        if description:
            schema["description"] = description
        if field.GetOptions().deprecated:
            schema["deprecated"] = True
        return schema

    def _value(self, field: FieldDescriptor) -> Schema:
        """The schema of one value of `field` (an array item or map value when repeated)."""
        if field.message_type is not None:
            return self._message(field.message_type)
        if field.enum_type is not None:
            return self._enum(field.enum_type)
        return _copy(_SCALARS[field.type])

    def _message(self, message: Descriptor) -> Schema:
        special = _WELL_KNOWN.get(message.full_name)
        if special is not None:
            return _copy(special)
        if message.full_name == self._root.full_name:
            return {"$ref": "#"}
        if message.full_name in self._shared:
            if message.full_name not in self._defs:
                self._defs[message.full_name] = {}  # placeholder: stops the recursion
                self._defs[message.full_name] = self._body(message)
            return {"$ref": f"#/$defs/{message.full_name}"}
        return self._body(message)

    def _enum(self, enum: EnumDescriptor) -> Schema:
        if enum.full_name == _NULL_VALUE_ENUM:
            return {"type": "null"}
        schema: Schema = {"type": "string", "enum": [value.name for value in enum.values]}
        lines = [self._comments.get(enum.full_name, "")]
        for value in enum.values:
            text = self._comments.get(f"{enum.full_name}.{value.name}")
            if text:
                lines.append(f"{value.name}: {text}")
        description = "\n".join(line for line in lines if line)
        if description:
            schema["description"] = description
        return schema


def _real_oneofs(message: Descriptor) -> Iterator[list[FieldDescriptor]]:
    """Members of each oneof with two or more fields (proto3 `optional` makes one-field
    synthetic oneofs, which constrain nothing)."""
    for oneof in message.oneofs:
        if len(oneof.fields) > 1:
            yield list(oneof.fields)


def _references(message: Descriptor) -> Iterator[Descriptor]:
    """Message types `message`'s fields refer to, one per field, looking through map
    entries and skipping well-known types (rendered inline, never shared)."""
    for field in message.fields:
        target = field.message_type
        if target is None:
            continue
        if target.GetOptions().map_entry:
            target = target.fields_by_name["value"].message_type
            if target is None:
                continue
        if target.full_name not in _WELL_KNOWN:
            yield target


def _types_to_share(root: Descriptor) -> frozenset[str]:
    """Full names of the types to render once in `$defs`: those referenced from more than
    one field of the reachable types, or on a reference cycle (the root never: it is `#`)."""
    edges: dict[str, list[str]] = {}
    pending = [root]
    while pending:
        message = pending.pop()
        if message.full_name in edges:
            continue
        targets = list(_references(message))
        edges[message.full_name] = [target.full_name for target in targets]
        pending.extend(targets)
    in_degree: dict[str, int] = {}
    for names in edges.values():
        for name in names:
            in_degree[name] = in_degree.get(name, 0) + 1
    cyclic = _on_cycles(edges)
    return frozenset(
        name
        for name in edges
        if name != root.full_name and (in_degree.get(name, 0) > 1 or name in cyclic)
    )


def _on_cycles(edges: Mapping[str, list[str]]) -> set[str]:
    """Nodes on some cycle (Tarjan's strongly connected components, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cyclic: set[str] = set()
    counter = 0
    for start in edges:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = []
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        work.append((start, iter(edges[start])))
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    cyclic.update(component)
    return cyclic
