"""What every benchmark's command line shares: flags, the h2load lookup, the cannot-run
status, writing the sections."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench import command
from bench.document import begin_marker
from bench.probe import ProbeError
from bench.processes import StartError


def test_the_shared_flags_parse_with_their_defaults() -> None:
    parser = command.parser("python -m bench.x", "A benchmark.")
    assert parser.prog == "python -m bench.x"
    args = parser.parse_args(["--quick", "--write", "B.md"])
    assert args.quick is True and args.write == Path("B.md")
    defaults = parser.parse_args([])
    assert defaults.quick is False and defaults.write is None


def test_the_invocation_names_quick_only_when_given() -> None:
    assert command.invocation("python -m bench.x", quick=False) == "python -m bench.x"
    assert command.invocation("python -m bench.x", quick=True) == "python -m bench.x --quick"


def test_the_measurement_gets_the_h2load_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/opt/{name}")
    assert command.measured(lambda h2load_binary: h2load_binary + " ran") == "/opt/h2load ran"


def test_without_h2load_nothing_is_measured_and_the_fix_is_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    ran: list[str] = []
    assert command.measured(ran.append) is None
    assert ran == []
    assert "h2load is not on PATH; install the Debian package nghttp2-client" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("error", [StartError("echo exited with code 1"), ProbeError("no answer")])
def test_a_process_that_does_not_come_up_means_the_benchmark_cannot_run(
    error: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/h2load")

    def measure(h2load_binary: str) -> None:
        raise error

    assert command.measured(measure) is None
    assert capsys.readouterr().err == f"bench: cannot run: {error}\n"


def test_other_errors_are_not_taken_for_a_start_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/opt/h2load")

    def measure(h2load_binary: str) -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        command.measured(measure)


def test_sections_are_written_under_markers_naming_the_generator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "B.md"
    path.write_text("# Benchmarks\n", encoding="utf-8")
    command.write_sections(path, {"one": "first", "two": "second"}, "python -m bench.x --quick")
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n")
    assert f"{begin_marker('one', 'python -m bench.x --quick')}\nfirst\n" in text
    assert "second\n<!-- two:end -->" in text
    assert capsys.readouterr().err == f"bench: wrote the sections one, two into {path}\n"
