"""`python -m examples.tools.echo --listen HOST:PORT [--instance NAME]`."""

from __future__ import annotations

import sys

from examples.tools import echo
from examples.tools.serving import argument_parser, run


def main(argv: list[str] | None = None) -> int:
    parser = argument_parser("echo", echo.__doc__ and echo.__doc__.splitlines()[0])
    parser.add_argument(
        "--instance",
        default="",
        metavar="NAME",
        help="label put in every response's `instance` field (default: empty)",
    )
    args = parser.parse_args(argv)
    return run("echo", lambda: echo.start(args.listen, instance=args.instance))


if __name__ == "__main__":
    sys.exit(main())
