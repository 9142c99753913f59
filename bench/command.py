"""What every benchmark's command line shares: the `--quick` and `--write` flags, progress
lines on stderr, finding h2load, the exit status of a benchmark that cannot run, and writing
the generated sections.

Exit statuses (`python -m bench` returns the worst of its benchmarks'): 0 every target ran
and every run was valid, 1 a target unavailable or a run invalid, 2 the benchmark could not
run at all (`CANNOT_RUN`).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from bench import document
from bench.probe import ProbeError
from bench.processes import StartError

CANNOT_RUN = 2

T = TypeVar("T")


def parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argument parser for `prog` holding the flags every benchmark takes."""
    found = argparse.ArgumentParser(prog=prog, description=description)
    found.add_argument(
        "--quick", action="store_true", help="small counts and one round: a smoke run"
    )
    found.add_argument(
        "--write",
        metavar="FILE",
        type=Path,
        help="update the generated sections of this Markdown file (e.g. BENCHMARKS.md)",
    )
    return found


def invocation(prog: str, quick: bool) -> str:
    """The command as a reader would type it to get the same figures (`--write` left out)."""
    return prog + (" --quick" if quick else "")


def progress(message: str) -> None:
    """One progress line on stderr (stdout carries only the report)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def measured(measure: Callable[[str], T]) -> T | None:
    """`measure(h2load_binary)`'s result; None, after saying why on stderr, when the benchmark
    cannot run: h2load is not on PATH, or a process it needs did not start or answer."""
    h2load_binary = shutil.which("h2load")
    if h2load_binary is None:
        print(
            "bench: h2load is not on PATH; install the Debian package nghttp2-client (make apt)",
            file=sys.stderr,
        )
        return None
    try:
        return measure(h2load_binary)
    except (StartError, ProbeError) as error:
        print(f"bench: cannot run: {error}", file=sys.stderr)
        return None


def write_sections(path: Path, sections: Mapping[str, str], generator: str) -> None:
    """Puts `sections` (name to Markdown body) into the file `path`, their markers naming the
    command `generator`, and says so on stderr."""
    document.write_sections(path, dict(sections), generator)
    progress(f"wrote the sections {', '.join(sections)} into {path}")
