"""The flag table: env twins, defaults in --help, and where a bad value came from."""

from __future__ import annotations

import argparse

import pytest

from mesh.cli.main import build_parser, main
from mesh.cli.options import Kind, commands, find, lookup
from registry import options as registry_options
from sidecar import options as sidecar_options


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(list(argv))


@pytest.mark.parametrize("command", [c.name for c in commands()])
def test_help_shows_every_env_twin_and_default(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*command.split(), "--help"])  # `policy set` is an action of a group
    assert exited.value.code == 0
    # argparse wraps lines; compare without the wrapping.
    text = " ".join(capsys.readouterr().out.split())
    for flag in next(c for c in commands() if c.name == command).flags:
        if flag.env:
            assert f"env: {flag.env}" in text, flag.name
        if flag.default_text:
            assert f"default: {' '.join(flag.default_text.split())}" in text, flag.name


def test_process_defaults_come_from_their_options_modules() -> None:
    assert find("registry", "listen").default == registry_options.DEFAULT_LISTEN
    assert find("registry", "db").default == registry_options.DEFAULT_DB
    assert find("sidecar", "listen").default == sidecar_options.DEFAULT_LISTEN
    assert find("tools", "sidecar").default == sidecar_options.DEFAULT_LISTEN
    assert find("register", "registry").default == sidecar_options.DEFAULT_REGISTRY


def test_every_connection_flag_has_an_env_twin() -> None:
    for command in commands():
        for flag in command.flags:
            if flag.name in {"--listen", "--registry", "--sidecar", "--db", "--token-file",
                             "--metrics-listen", "--cache", "--timeout", "--dir"}:  # fmt: skip
                assert flag.env, f"toolmesh {command.name} {flag.name}"


def test_env_sets_a_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_SIDECAR", "127.0.0.1:9100")
    setting = lookup(parse("tools"), find("tools", "sidecar"))
    assert (setting.text, setting.source) == ("127.0.0.1:9100", "TOOLMESH_SIDECAR")


def test_flag_wins_over_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_SIDECAR", "127.0.0.1:9100")
    setting = lookup(parse("tools", "--sidecar", "127.0.0.1:9200"), find("tools", "sidecar"))
    assert (setting.text, setting.source) == ("127.0.0.1:9200", "--sidecar")


def test_empty_env_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOOLMESH_TIMEOUT", "  ")
    setting = lookup(parse("call", "echo/Echo"), find("call", "timeout"))
    assert (setting.text, setting.source) == ("5s", "default")


def test_bad_env_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOOLMESH_TIMEOUT", "5x")
    assert main(["call", "echo/Echo", "{}"]) == 2
    assert capsys.readouterr().err == (
        "toolmesh call: TOOLMESH_TIMEOUT: '5x' is not a duration (e.g. 250ms, 2s, 1m30s)\n"
    )


def test_flag_table_kinds_match_the_parser() -> None:
    args = parse("register", "--proto", "a.proto", "--proto", "b.proto", "-I", "x")
    assert args.protos == ["a.proto", "b.proto"]
    assert args.include_dirs == ["x"]
    assert find("register", "protos").kind is Kind.REPEAT
