"""`.proto` files to a `FileDescriptorSet`, with grpcio-tools' bundled protoc, in-process.

The set carries every imported file (`--include_imports`) and the source comments
(`--include_source_info`), which the sidecar turns into method descriptions for agents.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc_tools
from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError
from grpc_tools import protoc

# google/protobuf/*.proto as bundled with grpcio-tools: always on the include path.
WELL_KNOWN_INCLUDE = Path(grpc_tools.__file__).parent / "_proto"


class CompileError(ValueError):
    """protoc refused the files; the message is protoc's own text (`file:line:col: ...`)."""


@dataclass(frozen=True)
class Compiled:
    """The descriptor set of some .proto files, and which of its files were the inputs."""

    descriptors: descriptor_pb2.FileDescriptorSet
    input_names: tuple[str, ...]  # names in `descriptors` of the files given, in order

    def input_files(self) -> descriptor_pb2.FileDescriptorSet:
        """Only the given files (not what they import): where the tool's services live."""
        wanted = set(self.input_names)
        return descriptor_pb2.FileDescriptorSet(
            file=[f for f in self.descriptors.file if f.name in wanted]
        )


def compile_protos(protos: Sequence[Path], include_dirs: Sequence[Path] = ()) -> Compiled:
    """Compiles `protos` into one descriptor set; raises CompileError with protoc's messages.

    The include path is `include_dirs` (in order), then each proto file's own directory,
    then the well-known types. A file is named in the set by its path relative to the first
    include directory that contains it (as protoc names it), so imports use those names.
    """
    if not protos:
        raise CompileError("no .proto files given")
    search = _unique([*include_dirs, *(p.parent for p in protos), WELL_KNOWN_INCLUDE])
    names = tuple(_name_in(proto.resolve(), search) for proto in protos)
    with tempfile.TemporaryDirectory(prefix="toolmesh-protoc-") as tmp:
        out = Path(tmp) / "descriptors.pb"
        arguments = [
            "protoc",
            *(f"--proto_path={directory}" for directory in search),
            f"--descriptor_set_out={out}",
            "--include_imports",
            "--include_source_info",
            *(str(p.resolve()) for p in protos),
        ]
        with _captured_stderr() as messages:
            status = protoc.main(arguments)
        if status != 0:
            text = "".join(messages).strip() or f"protoc exited with status {status}"
            # protoc names input files by the absolute paths it was given; show the user's.
            for proto in protos:
                text = text.replace(str(proto.resolve()), str(proto))
            raise CompileError(text)
        try:
            descriptors = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
        except (OSError, DecodeError) as error:
            raise CompileError(f"protoc produced no readable descriptor set: {error}") from None
    return Compiled(descriptors, names)


@contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Redirects file descriptor 2 to a temporary file for the duration of the block.

    protoc is C++ and writes its diagnostics straight to fd 2, so swapping `sys.stderr`
    would not catch them; the caller wants them as a value to report once, in its own words.
    The yielded list receives the captured text when the block ends.
    """
    captured: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.append(sink.read().decode("utf-8", errors="replace"))


def _name_in(proto: Path, search: Sequence[Path]) -> str:
    """The name protoc gives `proto`: its path below the first search directory holding it."""
    for directory in search:
        if proto.is_relative_to(directory):
            return proto.relative_to(directory).as_posix()
    return proto.name  # unreachable: the file's own directory is always searched


def _unique(paths: Sequence[Path]) -> list[Path]:
    seen: dict[str, Path] = {}
    for path in paths:
        seen.setdefault(str(path.resolve()), path.resolve())
    return list(seen.values())
