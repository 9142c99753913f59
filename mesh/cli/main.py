"""`toolmesh`: the one console script of the mesh, and its composition root.

Every subcommand's flags come from `mesh.cli.options`; every failure a user can meet is a
`CliError`, printed here as one line (`toolmesh VERB: what went wrong`) with its exit code.
Anything else is a bug: reported as one line too, with the traceback only when
`TOOLMESH_DEBUG=1`.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from mesh.cli import errors
from mesh.cli.errors import CliError, ToolCallFailed, UsageError
from mesh.cli.options import GROUPS, add_flags, commands

Runner = Callable[[argparse.Namespace], int]

EPILOG = """exit status:
  0    success
  1    the mesh could not do it: registry or sidecar unreachable or refusing, a demo step failed
  2    bad usage: unknown flag, unparsable value, missing or malformed input file
  3    toolmesh call: the tool call failed (printed as `error: CODE: message`)
  130  interrupted

Every flag with an environment twin shows it in the subcommand's --help; a flag given on the
command line wins over its environment variable, which wins over the default.
TOOLMESH_DEBUG=1 prints a traceback for internal errors."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one UsageError line, not usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)", prefix=self.prog)


def _runners() -> dict[str, Runner]:
    # The command modules are imported on first use: `toolmesh call` need not load protoc,
    # `toolmesh tools` need not load YAML.
    def lazy(module: str, function: str) -> Runner:
        def run(args: argparse.Namespace) -> int:
            import importlib

            runner: Runner = getattr(importlib.import_module(module), function)
            return runner(args)

        return run

    return {
        "registry": lazy("mesh.cli.serve", "run_registry"),
        "sidecar": lazy("mesh.cli.serve", "run_sidecar"),
        "register": lazy("mesh.cli.register", "run_register"),
        "deregister": lazy("mesh.cli.register", "run_deregister"),
        "policy set": lazy("mesh.cli.policy", "run_policy_set"),
        "policy get": lazy("mesh.cli.policy", "run_policy_get"),
        "policy check": lazy("mesh.cli.policy", "run_policy_check"),
        "tools": lazy("mesh.cli.tools", "run_tools"),
        "call": lazy("mesh.cli.call", "run_call"),
        "demo": lazy("mesh.cli.demo", "run_demo"),
    }


def build_parser() -> argparse.ArgumentParser:
    """The parser of `toolmesh` and every subcommand, built from the flag table."""
    parser = _Parser(
        prog="toolmesh",
        description="A gRPC tool mesh: a registry, a sidecar and the tools they connect.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"toolmesh {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    groups: dict[str, Any] = {}  # group name -> the subparsers of its actions
    for command in commands():
        group, _, action = command.name.partition(" ")
        if action and group not in groups:
            group_parser = subparsers.add_parser(
                group,
                help=GROUPS[group],
                description=GROUPS[group],
                epilog=EPILOG,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
            group_parser.set_defaults(command_name=group)
            groups[group] = group_parser.add_subparsers(
                dest="action", metavar="ACTION", parser_class=_Parser
            )
        sub = (groups[group] if action else subparsers).add_parser(
            action or command.name,
            help=command.summary,
            description=command.summary,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(command_name=command.name)
        add_flags(sub, command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one `toolmesh` command; returns the process's exit status."""
    command = "toolmesh"
    try:
        args, extra = build_parser().parse_known_args(argv)
        if args.command is None:
            raise UsageError("a command is required (see `toolmesh --help`)")
        command = f"toolmesh {args.command_name}"
        if args.command_name in GROUPS:
            actions = [
                c.name.partition(" ")[2]
                for c in commands()
                if c.name.startswith(f"{args.command_name} ")
            ]
            raise UsageError(
                f"an action is required: {', '.join(actions)} (see `{command} --help`)"
            )
        if extra:
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see `{command} --help`)")
        return _runners()[args.command_name](args)
    except ToolCallFailed as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except CliError as error:
        print(f"{error.prefix or command}: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return errors.EXIT_INTERRUPTED
    except Exception as error:  # the last line of defence: a bug, reported without a traceback
        if os.environ.get("TOOLMESH_DEBUG") == "1":
            traceback.print_exc()
        reason = " ".join(str(error).split()) or type(error).__name__
        print(
            f"{command}: internal error: {type(error).__name__}: {reason} "
            "(set TOOLMESH_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return errors.EXIT_FAILED


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("toolmesh")
    except PackageNotFoundError:
        return "unknown"


if __name__ == "__main__":
    sys.exit(main())
