"""Idempotency resolution: override, protobuf idempotency_level, annotations, default."""

from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from mesh.policy.idempotency import idempotency_level, method_is_idempotent

UNKNOWN = descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN
NO_SIDE_EFFECTS = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
IDEMPOTENT = descriptor_pb2.MethodOptions.IDEMPOTENT

SERVICE = "echo.v1.Echo"
METHOD = "Echo"


@pytest.mark.parametrize(
    ("level", "annotations", "override", "expected"),
    [
        # 1. the policy override wins over everything
        (IDEMPOTENT, {"idempotent": "true"}, False, False),
        (UNKNOWN, {}, True, True),
        (UNKNOWN, {"idempotent": "false"}, True, True),
        # 2. the protobuf option
        (NO_SIDE_EFFECTS, {}, None, True),
        (IDEMPOTENT, {}, None, True),
        (IDEMPOTENT, {"idempotent": "false"}, None, True),
        # 3. annotations, most specific first
        (UNKNOWN, {"idempotent": "true"}, None, True),
        (UNKNOWN, {"idempotent": " TRUE "}, None, True),
        (UNKNOWN, {"idempotent.Echo": "true"}, None, True),
        (UNKNOWN, {"idempotent.echo.v1.Echo/Echo": "true"}, None, True),
        (UNKNOWN, {"idempotent": "true", "idempotent.Echo": "false"}, None, False),
        (
            UNKNOWN,
            {"idempotent.Echo": "true", "idempotent.echo.v1.Echo/Echo": "false"},
            None,
            False,
        ),
        (UNKNOWN, {"idempotent.Other": "true"}, None, False),
        (UNKNOWN, {"idempotent.other.v1.Svc/Echo": "true"}, None, False),
        (UNKNOWN, {"idempotent": "yes"}, None, False),  # not true/false: ignored
        (UNKNOWN, {"idempotent.Echo": "maybe", "idempotent": "true"}, None, True),
        # 4. default
        (UNKNOWN, {}, None, False),
        (None, {"read_only": "true"}, None, False),
    ],
)
def test_resolution(
    level: int | None, annotations: dict[str, str], override: bool | None, expected: bool
) -> None:
    assert (
        method_is_idempotent(level, annotations, override, service=SERVICE, method=METHOD)
        is expected
    )


def _method_descriptor(level: int) -> MethodDescriptor:
    file = descriptor_pb2.FileDescriptorProto(name="echo.proto", package="echo.v1")
    file.message_type.add(name="Msg")
    service = file.service.add(name="Echo")
    method = service.method.add(name="Echo", input_type=".echo.v1.Msg", output_type=".echo.v1.Msg")
    method.options.idempotency_level = level  # type: ignore[assignment]
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return pool.FindMethodByName("echo.v1.Echo.Echo")


def test_level_from_descriptor_and_options() -> None:
    descriptor = _method_descriptor(NO_SIDE_EFFECTS)
    assert idempotency_level(descriptor) == NO_SIDE_EFFECTS
    assert method_is_idempotent(descriptor, {}, None, service=SERVICE, method=METHOD)
    options = descriptor_pb2.MethodOptions(idempotency_level=IDEMPOTENT)
    assert idempotency_level(options) == IDEMPOTENT
    assert idempotency_level(descriptor_pb2.MethodOptions()) == UNKNOWN
    assert idempotency_level(None) == UNKNOWN
    assert not method_is_idempotent(
        _method_descriptor(UNKNOWN),
        {},
        None,
        service=SERVICE,
        method=METHOD,
    )
