"""The extra tools' descriptor sets are valid and never collide with each other or echo."""

from __future__ import annotations

from bench.descriptors import echo_file_set, renamed_echo
from mesh.descriptors import build_pool, method_shapes, services_in


def test_renamed_copies_load_and_keep_every_method() -> None:
    original = method_shapes(build_pool(echo_file_set()), services_in(echo_file_set()))
    copy = renamed_echo("bench.t007.v1")
    assert services_in(copy) == ["bench.t007.v1.Echo"]
    shapes = method_shapes(build_pool(copy), services_in(copy))
    assert [s.name for s in shapes] == [s.name for s in original]
    assert shapes[0].input_type == "bench.t007.v1.EchoRequest"
    assert shapes[0].path == "/bench.t007.v1.Echo/Echo"


def test_copies_have_distinct_files_and_services() -> None:
    first, second = renamed_echo("bench.t001.v1"), renamed_echo("bench.t002.v1")
    assert first.file[0].name != second.file[0].name
    assert set(services_in(first)).isdisjoint(services_in(second))
    assert set(services_in(first)).isdisjoint(services_in(echo_file_set()))
