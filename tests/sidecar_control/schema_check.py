"""A small JSON Schema validator for the keywords sidecar.services.jsonschema emits.

Enough to check that protobuf's own JSON output satisfies the generated schemas (and that
wrong documents do not); `format` and `contentEncoding` are annotations, as in 2020-12.
"""

from __future__ import annotations

import re
from typing import Any

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}
_ANNOTATIONS = {
    "$schema",
    "title",
    "description",
    "format",
    "contentEncoding",
    "deprecated",
    "$defs",
}


def errors(
    instance: Any, schema: dict[str, Any], root: dict[str, Any] | None = None, at: str = "$"
) -> list[str]:
    """Every violation of `schema` by `instance`, as `path: problem` lines (empty: valid)."""
    root = root if root is not None else schema
    found: list[str] = []
    for keyword, value in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "$ref":
            found += errors(instance, _resolve(root, value), root, at)
        elif keyword == "type":
            kinds = value if isinstance(value, list) else [value]
            if not any(_TYPES[kind](instance) for kind in kinds):
                found.append(f"{at}: {instance!r} is not of type {value}")
        elif keyword == "enum":
            if instance not in value:
                found.append(f"{at}: {instance!r} is not one of {value}")
        elif keyword == "pattern":
            if isinstance(instance, str) and not re.search(value, instance):
                found.append(f"{at}: {instance!r} does not match {value}")
        elif keyword == "minimum":
            if _TYPES["number"](instance) and instance < value:
                found.append(f"{at}: {instance} < {value}")
        elif keyword == "maximum":
            if _TYPES["number"](instance) and instance > value:
                found.append(f"{at}: {instance} > {value}")
        elif keyword == "required":
            if isinstance(instance, dict):
                found += [f"{at}: missing {name}" for name in value if name not in instance]
        elif keyword == "properties":
            if isinstance(instance, dict):
                for name, sub in value.items():
                    if name in instance:
                        found += errors(instance[name], sub, root, f"{at}.{name}")
        elif keyword == "additionalProperties":
            if isinstance(instance, dict):
                known = schema.get("properties", {})
                for name, item in instance.items():
                    if name in known:
                        continue
                    if value is False:
                        found.append(f"{at}: unexpected property {name!r}")
                    elif isinstance(value, dict):
                        found += errors(item, value, root, f"{at}.{name}")
        elif keyword == "propertyNames":
            if isinstance(instance, dict):
                for name in instance:
                    found += errors(name, value, root, f"{at}[key {name!r}]")
        elif keyword == "items":
            if isinstance(instance, list):
                for index, item in enumerate(instance):
                    found += errors(item, value, root, f"{at}[{index}]")
        elif keyword == "anyOf":
            if all(errors(instance, sub, root, at) for sub in value):
                found.append(f"{at}: matches none of anyOf")
        elif keyword == "allOf":
            for sub in value:
                found += errors(instance, sub, root, at)
        elif keyword == "oneOf":
            matches = sum(1 for sub in value if not errors(instance, sub, root, at))
            if matches != 1:
                found.append(f"{at}: matches {matches} branches of oneOf, not exactly 1")
        elif keyword == "not":
            if not errors(instance, value, root, at):
                found.append(f"{at}: matches a schema it must not")
        else:
            raise AssertionError(f"schema_check does not know keyword {keyword!r}")
    return found


def _resolve(root: dict[str, Any], ref: str) -> dict[str, Any]:
    if ref == "#":
        return root
    prefix = "#/$defs/"
    assert ref.startswith(prefix), f"unsupported $ref {ref!r}"
    resolved: dict[str, Any] = root["$defs"][ref[len(prefix) :]]
    return resolved
