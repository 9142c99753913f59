"""JSON Schemas of messages' JSON forms (pure unit tests over compiled descriptors)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh.descriptors import build_pool
from sidecar.services.comments import comments_by_symbol
from sidecar.services.jsonschema import JSON_SCHEMA_DIALECT, message_schema

from .compiled import echo_files, kitchen_files
from .schema_check import errors

POOL = build_pool(kitchen_files())
COMMENTS = comments_by_symbol(kitchen_files())
KITCHEN = POOL.FindMessageTypeByName("demo.v1.Kitchen")
SCHEMA = message_schema(KITCHEN, COMMENTS)
PROPS: dict[str, Any] = SCHEMA["properties"]


def message_class(descriptor: Descriptor) -> Any:
    """The dynamic message class (typed Any: its fields are known only at run time)."""
    return message_factory.GetMessageClass(descriptor)


def as_json(message: Message) -> Any:
    """What json_format prints, read back (the form agents see)."""
    return json.loads(json_format.MessageToJson(message, descriptor_pool=POOL))


def test_document_header() -> None:
    assert SCHEMA["$schema"] == JSON_SCHEMA_DIALECT
    assert SCHEMA["title"] == "demo.v1.Kitchen"
    assert SCHEMA["type"] == "object"
    assert SCHEMA["additionalProperties"] is False
    assert SCHEMA["description"] == "Every kind of field the JSON mapping knows."


def test_properties_use_json_names() -> None:
    assert "snakeCaseName" in PROPS and "snake_case_name" not in PROPS
    assert "fInt64" in PROPS


@pytest.mark.parametrize("name", ["fInt32", "fSint32", "fSfixed32"])
def test_int32_is_a_bounded_integer(name: str) -> None:
    assert PROPS[name] == {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}


@pytest.mark.parametrize("name", ["fUint32", "fFixed32"])
def test_uint32_is_a_non_negative_integer(name: str) -> None:
    assert PROPS[name] == {"type": "integer", "minimum": 0, "maximum": 2**32 - 1}


@pytest.mark.parametrize("name", ["fInt64", "fSint64", "fSfixed64"])
def test_int64_is_a_decimal_string(name: str) -> None:
    assert PROPS[name]["type"] == "string"
    assert PROPS[name]["pattern"] == "^-?[0-9]+$"


@pytest.mark.parametrize("name", ["fUint64", "fFixed64"])
def test_uint64_is_an_unsigned_decimal_string(name: str) -> None:
    assert (PROPS[name]["type"], PROPS[name]["pattern"]) == ("string", "^[0-9]+$")


@pytest.mark.parametrize("name", ["fDouble", "fFloat"])
def test_floats_are_numbers_or_the_special_strings(name: str) -> None:
    assert PROPS[name] == {
        "anyOf": [{"type": "number"}, {"enum": ["NaN", "Infinity", "-Infinity"]}]
    }


def test_bool_string_and_bytes() -> None:
    assert PROPS["fBool"] == {"type": "boolean"}
    assert PROPS["fString"] == {"type": "string"}
    assert PROPS["fBytes"] == {"type": "string", "contentEncoding": "base64"}


def test_enum_is_its_value_names_with_comments() -> None:
    mood = PROPS["mood"]
    assert mood["type"] == "string"
    assert mood["enum"] == ["MOOD_UNSPECIFIED", "HAPPY", "SAD"]
    # The field's comment wins over the enum's; value comments are listed with the enum.
    assert mood["description"] == "How it feels."
    assert PROPS["moods"]["items"]["description"] == (
        "A mood.\nMOOD_UNSPECIFIED: Unknown mood.\nHAPPY: Happy."
    )


def test_repeated_fields_are_arrays() -> None:
    assert PROPS["tags"] == {"type": "array", "items": {"type": "string"}}
    assert PROPS["moods"]["type"] == "array"
    assert PROPS["moods"]["items"]["enum"] == ["MOOD_UNSPECIFIED", "HAPPY", "SAD"]


def test_maps_are_objects_with_keys_checked_by_key_type() -> None:
    counts = PROPS["counts"]
    assert counts["type"] == "object"
    assert counts["additionalProperties"]["pattern"] == "^-?[0-9]+$"
    assert "propertyNames" not in counts  # string keys: anything goes
    assert PROPS["spoonsById"]["propertyNames"] == {"pattern": "^-?[0-9]+$"}
    assert PROPS["spoonsById"]["additionalProperties"] == {"$ref": "#/$defs/demo.v1.Kitchen.Spoon"}
    assert PROPS["flags"]["propertyNames"] == {"enum": ["true", "false"]}


def test_a_type_used_more_than_once_lives_in_defs() -> None:
    assert PROPS["spoon"] == {"$ref": "#/$defs/demo.v1.Kitchen.Spoon"}
    assert PROPS["spoons"]["items"] == {"$ref": "#/$defs/demo.v1.Kitchen.Spoon"}
    spoon = SCHEMA["$defs"]["demo.v1.Kitchen.Spoon"]
    assert spoon["properties"] == {"name": {"type": "string"}}
    assert spoon["description"] == "A nested message used twice."


def test_a_type_used_once_is_inlined() -> None:
    origin = PROPS["origin"]
    assert origin["type"] == "object"
    assert set(origin["properties"]) == {"sender", "sentAt"}
    assert "demo.v1.Origin" not in SCHEMA["$defs"]


def test_oneof_members_are_mutually_exclusive() -> None:
    assert (
        "Part of oneof `payload`: set at most one of text, origin, number."
        in (PROPS["text"]["description"])
    )
    assert PROPS["text"]["description"].startswith("Text payload.")
    assert "The chosen payload." in PROPS["number"]["description"]
    [constraint] = SCHEMA["allOf"]
    assert constraint["oneOf"][:3] == [
        {"required": ["text"]},
        {"required": ["origin"]},
        {"required": ["number"]},
    ]
    assert errors({"text": "a", "number": "1"}, SCHEMA)
    assert not errors({"text": "a"}, SCHEMA)
    assert not errors({}, SCHEMA)


def test_proto3_optional_is_not_a_oneof_constraint() -> None:
    assert PROPS["maybe"] == {"type": "integer", "minimum": -(2**31), "maximum": 2**31 - 1}


def test_well_known_types_take_their_json_forms() -> None:
    assert (PROPS["at"]["type"], PROPS["at"]["format"]) == ("string", "date-time")
    assert PROPS["took"]["pattern"] == "^-?[0-9]+(\\.[0-9]{1,9})?s$"
    assert PROPS["extra"] == {"type": "object"}
    assert PROPS["anything"] == {}
    assert PROPS["list"] == {"type": "array"}
    assert PROPS["big"]["pattern"] == "^-?[0-9]+$"
    assert PROPS["label"] == {"type": "string"}
    assert PROPS["flag"] == {"type": "boolean"}
    assert "anyOf" in PROPS["ratio"]
    assert PROPS["blob"]["contentEncoding"] == "base64"
    assert PROPS["small"]["minimum"] == 0
    assert PROPS["detail"]["required"] == ["@type"]
    assert PROPS["mask"]["type"] == "string"
    assert PROPS["nothing"] == {"type": "object", "additionalProperties": False}
    assert PROPS["nullValue"] == {"type": "null"}


def test_deprecated_fields_are_marked() -> None:
    assert PROPS["old"]["deprecated"] is True


def test_recursive_root_refers_to_itself() -> None:
    tree = message_schema(POOL.FindMessageTypeByName("demo.v1.Tree"), COMMENTS)
    assert tree["properties"]["children"] == {"type": "array", "items": {"$ref": "#"}}
    assert tree["properties"]["leaf"] == {"$ref": "#/$defs/demo.v1.Leaf"}
    leaf = tree["$defs"]["demo.v1.Leaf"]
    assert leaf["properties"]["back"] == {"$ref": "#"}
    # Spoon is used once and is on no cycle: inlined in Leaf.
    assert leaf["properties"]["spoon"]["properties"] == {"name": {"type": "string"}}
    assert set(tree["$defs"]) == {"demo.v1.Leaf"}


def test_cycle_below_the_root_lives_in_defs() -> None:
    forest = message_schema(POOL.FindMessageTypeByName("demo.v1.Forest"), COMMENTS)
    assert forest["properties"]["trees"]["items"] == {"$ref": "#/$defs/demo.v1.Tree"}
    assert set(forest["$defs"]) == {"demo.v1.Tree", "demo.v1.Leaf"}
    assert forest["$defs"]["demo.v1.Tree"]["properties"]["children"]["items"] == {
        "$ref": "#/$defs/demo.v1.Tree"
    }
    document = {"trees": [{"label": "a", "children": [{"leaf": {"back": {"label": "b"}}}]}]}
    assert not errors(document, forest)
    assert errors({"trees": [{"children": [{"label": 5}]}]}, forest)


def test_well_known_root_is_its_json_form() -> None:
    timestamp = message_schema(POOL.FindMessageTypeByName("google.protobuf.Timestamp"))
    assert timestamp["type"] == "string" and timestamp["format"] == "date-time"
    assert timestamp["$schema"] == JSON_SCHEMA_DIALECT


def test_without_comments_there_are_no_descriptions_of_our_own() -> None:
    bare = message_schema(KITCHEN)
    assert "description" not in bare
    assert "description" not in bare["properties"]["fString"]


def test_schema_size_stays_linear_for_shared_diamonds() -> None:
    # L0 has two fields of type L1, L1 two of L2, ...: inlining would be 2**30 copies.
    files = descriptor_pb2.FileDescriptorSet()
    proto = files.file.add(name="diamond.proto", package="d", syntax="proto3")
    depth = 30
    for level in range(depth):
        message = proto.message_type.add(name=f"L{level}")
        if level + 1 < depth:
            for number, name in ((1, "left"), (2, "right")):
                message.field.add(
                    name=name,
                    number=number,
                    type=FieldDescriptor.TYPE_MESSAGE,
                    label=FieldDescriptor.LABEL_OPTIONAL,
                    type_name=f".d.L{level + 1}",
                )
    schema = message_schema(build_pool(files).FindMessageTypeByName("d.L0"))
    assert len(schema["$defs"]) == depth - 1
    assert len(json.dumps(schema)) < 20_000


def test_json_ready() -> None:
    text = json.dumps(message_schema(POOL.FindMessageTypeByName("demo.v1.Forest"), COMMENTS))
    assert json.loads(text)["title"] == "demo.v1.Forest"


def test_rejects_what_the_parser_rejects() -> None:
    bad: dict[str, Any]
    for bad in (
        {"unknownField": 1},
        {"mood": "ANGRY"},
        {"fInt32": 2**31},
        {"fString": True},
        {"fUint32": -1},
        {"spoonsById": {"x": {}}},
        {"flags": {"yes": "a"}},
        {"spoon": {"name": 3}},
        {"took": "5 minutes"},
    ):
        assert errors(bad, SCHEMA), bad
        with pytest.raises(json_format.ParseError):
            json_format.ParseDict(bad, message_class(KITCHEN)(), descriptor_pool=POOL)


def test_a_fully_populated_message_satisfies_its_schema() -> None:
    kitchen = message_class(KITCHEN)()
    spoon_class = message_class(POOL.FindMessageTypeByName("demo.v1.Kitchen.Spoon"))
    kitchen.f_double = math.nan
    kitchen.f_float = -math.inf
    kitchen.f_int64 = -(2**63)
    kitchen.f_uint64 = 2**64 - 1
    kitchen.f_int32 = -(2**31)
    kitchen.f_uint32 = 2**32 - 1
    kitchen.f_bytes = b"\x00\xff"
    kitchen.mood = 1
    kitchen.moods.extend([0, 2])
    kitchen.counts["a"] = 5
    kitchen.spoons_by_id[-3].name = "x"
    kitchen.flags[True] = "yes"
    kitchen.spoon.name = "s"
    kitchen.spoons.add(name="t")
    kitchen.origin.sender = "me"
    kitchen.origin.sent_at.FromSeconds(1_700_000_000)
    kitchen.maybe = 0
    kitchen.at.FromNanoseconds(1_700_000_000_123_456_789)
    kitchen.took.FromMilliseconds(-1500)
    kitchen.extra.update({"k": [1, "two", None, {"deep": True}]})
    kitchen.anything.string_value = "v"
    kitchen.list.append(3)
    kitchen.big.value = 2**40
    kitchen.label.value = ""
    kitchen.flag.value = False
    kitchen.ratio.value = 0.5
    kitchen.blob.value = b"abc"
    kitchen.small.value = 7
    kitchen.detail.Pack(spoon_class(name="inside"))
    kitchen.mask.paths.extend(["f_int32", "origin.sent_at"])
    kitchen.nothing.SetInParent()
    kitchen.old = 1
    kitchen.snake_case_name = "snake"
    document = as_json(kitchen)
    assert "maybe" in document  # proto3 optional: printed even at its default
    assert errors(document, SCHEMA) == []
    # And the parser takes back what the schema describes.
    json_format.ParseDict(document, message_class(KITCHEN)(), descriptor_pool=POOL)


# -- property: whatever json_format prints satisfies the schema ------------------------------

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_SCALAR_JSON = st.recursive(
    st.none() | st.booleans() | st.text(max_size=5) | st.integers(-1000, 1000),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=6,
)


def _scalar(draw: st.DrawFn, field: Any) -> Any:
    kind = field.type
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        return draw(st.integers(low, high))
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return draw(st.floats(allow_nan=True, allow_infinity=True))
    if kind == FieldDescriptor.TYPE_FLOAT:
        return draw(st.floats(width=32, allow_nan=True, allow_infinity=True))
    if kind == FieldDescriptor.TYPE_BOOL:
        return draw(st.booleans())
    if kind == FieldDescriptor.TYPE_STRING:
        return draw(st.text(max_size=8))
    if kind == FieldDescriptor.TYPE_BYTES:
        return draw(st.binary(max_size=8))
    if kind == FieldDescriptor.TYPE_ENUM:
        return draw(st.sampled_from([value.number for value in field.enum_type.values]))
    raise AssertionError(f"unexpected field type {kind}")


def _fill(draw: st.DrawFn, message: Any, depth: int) -> None:
    descriptor = message.DESCRIPTOR
    name = descriptor.full_name
    if name == "google.protobuf.Timestamp":
        message.seconds = draw(st.integers(-62135596800, 253402300799))
        message.nanos = draw(st.integers(0, 999_999_999))
        return
    if name == "google.protobuf.Duration":
        seconds = draw(st.integers(-315576000000, 315576000000))
        nanos = draw(st.integers(0, 999_999_999)) * (-1 if seconds < 0 else 1)
        message.seconds, message.nanos = seconds, nanos
        return
    if name == "google.protobuf.Struct":
        message.update(draw(st.dictionaries(st.text(max_size=3), _SCALAR_JSON, max_size=3)))
        return
    if name == "google.protobuf.Value":
        json_format.ParseDict(draw(_SCALAR_JSON), message)  # type: ignore[arg-type]
        return
    if name == "google.protobuf.ListValue":
        message.extend(draw(st.lists(_SCALAR_JSON, max_size=3)))
        return
    if name == "google.protobuf.Any":
        spoon = message_class(POOL.FindMessageTypeByName("demo.v1.Kitchen.Spoon"))
        message.Pack(spoon(name=draw(st.text(max_size=4))))
        return
    if name == "google.protobuf.FieldMask":
        path = st.from_regex(r"[a-z]{1,4}(_[a-z]{1,4}){0,2}", fullmatch=True)
        message.paths.extend(draw(st.lists(path, max_size=3)))
        return
    chosen_oneof: dict[str, str] = {}
    for oneof in descriptor.oneofs:
        chosen_oneof[oneof.name] = draw(st.sampled_from([f.name for f in oneof.fields]))
    for field in descriptor.fields:
        member_of = field.containing_oneof
        if member_of is not None and chosen_oneof[member_of.name] != field.name:
            continue
        if not draw(st.booleans()):
            continue
        entry = field.message_type
        container = getattr(message, field.name)
        if entry is not None and entry.GetOptions().map_entry:
            key_field, value_field = entry.fields_by_name["key"], entry.fields_by_name["value"]
            for _ in range(draw(st.integers(0, 2))):
                key = _scalar(draw, key_field)
                if value_field.message_type is not None:
                    if depth > 0:
                        _fill(draw, container[key], depth - 1)
                else:
                    container[key] = _scalar(draw, value_field)
        elif field.is_repeated:
            for _ in range(draw(st.integers(0, 2))):
                if entry is not None:
                    if depth > 0:
                        _fill(draw, container.add(), depth - 1)
                else:
                    container.append(_scalar(draw, field))
        elif entry is not None:
            if depth > 0:
                _fill(draw, container, depth - 1)
                container.SetInParent()
        else:
            setattr(message, field.name, _scalar(draw, field))


@st.composite
def populated(draw: st.DrawFn, descriptor: Descriptor) -> Any:
    message = message_class(descriptor)()
    _fill(draw, message, depth=3)
    return message


@pytest.mark.parametrize(
    "type_name",
    ["demo.v1.Kitchen", "demo.v1.Tree", "demo.v1.Forest"],
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_json_format_output_always_satisfies_the_schema(
    type_name: str, data: st.DataObject
) -> None:
    descriptor = POOL.FindMessageTypeByName(type_name)
    schema = message_schema(descriptor, COMMENTS)
    document = as_json(data.draw(populated(descriptor)))
    assert errors(document, schema) == [], document


def test_echo_messages_from_another_file() -> None:
    pool: descriptor_pool.DescriptorPool = build_pool(echo_files())
    comments = comments_by_symbol(echo_files())
    schema = message_schema(pool.FindMessageTypeByName("demo.v1.SayRequest"), comments)
    assert schema["properties"]["text"]["description"] == "The text to echo."
    assert schema["properties"]["origin"]["description"] == "Who asks."
    sent_at = schema["properties"]["origin"]["properties"]["sentAt"]
    assert sent_at["format"] == "date-time" and sent_at["description"] == "When it was sent."
