"""Compiling .proto files in-process with grpcio-tools' protoc."""

from __future__ import annotations

from pathlib import Path

import pytest

from mesh.cli.compile import CompileError, compile_protos
from mesh.descriptors import build_pool, services_in
from tests.cli.protos import MALFORMED, write_greeter


def test_imports_and_well_known_types_are_included(tmp_path: Path) -> None:
    include, greeter = write_greeter(tmp_path / "protos")
    compiled = compile_protos([greeter], [include])
    names = [f.name for f in compiled.descriptors.file]
    assert set(names) == {
        "demo/v1/common.proto",
        "demo/v1/greeter.proto",
        "google/protobuf/timestamp.proto",
    }
    assert compiled.input_names == ("demo/v1/greeter.proto",)
    assert services_in(compiled.input_files()) == ["demo.v1.Greeter"]
    # The set stands on its own: a pool loads it without anything else.
    assert build_pool(compiled.descriptors).FindServiceByName("demo.v1.Greeter")


def test_source_comments_are_kept(tmp_path: Path) -> None:
    include, greeter = write_greeter(tmp_path / "protos")
    compiled = compile_protos([greeter], [include])
    greeter_file = next(f for f in compiled.descriptors.file if f.name == "demo/v1/greeter.proto")
    comments = [loc.leading_comments.strip() for loc in greeter_file.source_code_info.location]
    assert "Greets one person." in comments


def test_a_lone_file_is_found_through_its_own_directory(tmp_path: Path) -> None:
    lone = tmp_path / "lone.proto"
    lone.write_text(
        'syntax = "proto3";\npackage lone.v1;\nservice S { rpc M(R) returns (R); }\nmessage R {}\n'
    )
    compiled = compile_protos([lone])
    assert compiled.input_names == ("lone.proto",)
    assert services_in(compiled.descriptors) == ["lone.v1.S"]


def test_malformed_proto_reports_protocs_file_line_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("broken.proto").write_text(MALFORMED)
    with pytest.raises(CompileError) as caught:
        compile_protos([Path("broken.proto")])
    # protoc's own text, naming the file the way it was given.
    assert str(caught.value).startswith("broken.proto:3:")
    assert 'Expected ";"' in str(caught.value)


def test_missing_import_is_protocs_message(tmp_path: Path) -> None:
    _, greeter = write_greeter(tmp_path / "protos")
    (greeter.parent / "common.proto").unlink()
    with pytest.raises(CompileError, match=r"demo/v1/common\.proto"):
        compile_protos([greeter], [tmp_path / "protos"])


def test_stderr_is_restored_after_a_failed_compile(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.proto"
    broken.write_text(MALFORMED)
    with pytest.raises(CompileError):
        compile_protos([broken])
    import sys

    print("after", file=sys.stderr, flush=True)
    captured = capfd.readouterr()
    assert "after" in captured.err
    assert "Expected" not in captured.err  # protoc's text went into the error, not the terminal
