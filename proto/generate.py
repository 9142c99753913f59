"""Generates the Python code of every protobuf schema in the repository.

Run by `make proto`; `--check` compares instead of writing and exits 1 when any generated
file is stale (the test suite runs it). The code comes from grpcio-tools' bundled protoc;
imports between generated modules of one tree are rewritten to relative imports so the
trees can live inside ordinary Python packages (protoc's Python plugin has no option for it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

REPO = Path(__file__).resolve().parent.parent
WELL_KNOWN = Path(grpc_tools.__file__).parent / "_proto"


@dataclass(frozen=True)
class Tree:
    """One schema tree: `.proto` files under `root`, generated into `out`."""

    root: Path  # include root; proto packages are directories below it
    package_dir: str  # the directory (relative to root) whose files are generated
    out: Path  # where the generated modules go (flat: one directory per proto package)


TREES = [
    Tree(REPO / "proto", "toolmesh/v1", REPO / "mesh" / "api" / "v1"),
    Tree(
        REPO / "examples" / "tools" / "proto",
        "echo/v1",
        REPO / "examples" / "tools" / "gen" / "echo" / "v1",
    ),
    Tree(
        REPO / "examples" / "tools" / "proto",
        "support/v1",
        REPO / "examples" / "tools" / "gen" / "support" / "v1",
    ),
]


def _rewrite_imports(source: str, package_dir: str) -> str:
    """Turns `from toolmesh.v1 import x_pb2` into `from . import x_pb2`."""
    dotted = re.escape(package_dir.replace("/", "."))
    return re.sub(rf"^from {dotted} import ", "from . import ", source, flags=re.MULTILINE)


def generate(tree: Tree) -> dict[str, str]:
    """Returns {file name: content} of the generated modules of `tree`."""
    protos = sorted((tree.root / tree.package_dir).glob("*.proto"))
    if not protos:
        raise SystemExit(f"no .proto files under {tree.root / tree.package_dir}")
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{tree.root}",
            f"-I{WELL_KNOWN}",
            f"--python_out={tmp}",
            f"--pyi_out={tmp}",
            f"--grpc_python_out={tmp}",
            *[str(p) for p in protos],
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed for {tree.root / tree.package_dir}")
        produced = Path(tmp) / tree.package_dir
        files = {
            path.name: _rewrite_imports(path.read_text(), tree.package_dir)
            for path in sorted(produced.iterdir())
            if path.is_file()
        }
    files["__init__.py"] = '"""Generated from proto/ by `make proto`. Do not edit."""\n'
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report stale files, write nothing")
    check = parser.parse_args().check
    stale: list[str] = []
    for tree in TREES:
        wanted = generate(tree)
        existing = (
            {p.name for p in tree.out.glob("*") if p.is_file()} if tree.out.exists() else set()
        )
        for name, content in wanted.items():
            target = tree.out / name
            if target.exists() and target.read_text() == content:
                continue
            stale.append(str(target.relative_to(REPO)))
            if not check:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(content)
        for extra in sorted(existing - set(wanted)):
            stale.append(str((tree.out / extra).relative_to(REPO)) + " (no longer generated)")
            if not check:
                (tree.out / extra).unlink()
    if check and stale:
        print(
            "generated code is stale; run `make proto`:\n  " + "\n  ".join(stale), file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
