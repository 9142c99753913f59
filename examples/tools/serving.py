"""Starting an example tool's gRPC server, and running it as a process.

Every tool's `start()` builds on `start_server`, and every tool's `__main__` on `run`, so all
of them listen, report their address and stop the same way:
`python -m examples.tools.NAME --listen HOST:PORT` prints exactly one line
`NAME listening on HOST:PORT` (the real port when PORT is 0) and serves until SIGTERM or
SIGINT, then stops gracefully and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import sys
from collections.abc import Awaitable, Callable

import grpc

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# In-flight calls get this long to finish after SIGTERM/SIGINT; then they are cancelled.
SHUTDOWN_GRACE_S = 5.0
DEFAULT_LISTEN = "127.0.0.1:0"

SERVER_OPTIONS: tuple[tuple[str, int], ...] = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    # grpcio turns SO_REUSEPORT on by default, which lets a second process bind a port that is
    # already serving and silently share its traffic. A tool must fail to start instead.
    ("grpc.so_reuseport", 0),
)

# HOST:PORT or [IPv6]:PORT; unix:/PATH is handled apart.
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]*):(?P<port>\d{1,5})$")

Register = Callable[[grpc.aio.Server], None]
Starter = Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]


class ListenError(RuntimeError):
    """The server cannot listen where asked; the message names the tool and the address."""


async def start_server(tool: str, register: Register, listen: str) -> tuple[grpc.aio.Server, str]:
    """Creates a grpc.aio server, lets `register` add servicers, binds `listen`, starts it.

    `listen` is `HOST:PORT`, `[IPv6]:PORT` or `unix:/PATH`; port 0 picks a free port.
    Returns the started server and the address it is bound to, with the real port. Must run
    inside the event loop the server will serve on. Raises ListenError when the address is
    malformed or cannot be bound.
    """
    unix = listen.startswith("unix:")
    match = None if unix else _HOST_PORT.match(listen)
    if not unix and (match is None or int(match["port"]) > 65535):
        raise ListenError(
            f"{tool}: listen address {listen!r} is not HOST:PORT, [IPv6]:PORT or unix:/PATH"
        )
    server = grpc.aio.server(options=SERVER_OPTIONS)
    register(server)
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError as error:
        await server.stop(None)
        raise ListenError(f"{tool}: cannot listen on {listen!r}: {error}") from None
    if port == 0 and not unix:
        await server.stop(None)
        raise ListenError(f"{tool}: cannot listen on {listen!r}: the address could not be bound")
    await server.start()
    if match is None:
        return server, listen
    return server, f"{match['host']}:{port}"


def argument_parser(tool: str, description: str | None) -> argparse.ArgumentParser:
    """The command line every tool accepts (`--listen`); tools may add their own flags."""
    parser = argparse.ArgumentParser(
        prog=f"python -m examples.tools.{tool}", description=description
    )
    parser.add_argument(
        "--listen",
        default=DEFAULT_LISTEN,
        metavar="ADDRESS",
        help=f"HOST:PORT, [IPv6]:PORT or unix:/PATH to serve on; port 0 picks a free port "
        f"(default: {DEFAULT_LISTEN})",
    )
    return parser


def run(tool: str, starter: Starter) -> int:
    """Serves until SIGTERM/SIGINT; returns the process exit code (0, or 2 if it cannot listen)."""
    return asyncio.run(_serve(tool, starter))


async def _serve(tool: str, starter: Starter) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Installed before the listening line is printed, so a signal sent as soon as the line is
    # read already stops the server gracefully.
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        server, address = await starter()
    except ListenError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"{tool} listening on {address}", flush=True)
    await stop.wait()
    await server.stop(SHUTDOWN_GRACE_S)
    return 0


def main(
    tool: str,
    start: Callable[[str], Awaitable[tuple[grpc.aio.Server, str]]],
    description: str | None,
    argv: list[str] | None = None,
) -> int:
    """The whole `__main__` of a tool whose only flag is `--listen`; returns the exit code."""
    args = argument_parser(tool, description).parse_args(argv)
    return run(tool, lambda: start(args.listen))
