"""`python -m examples.tools.echo --listen HOST:PORT [--instance NAME] [--latency-ms N]
[--fail-rate R] [--seed N] [--report-calls]`; traces when the `OTEL_*` variables name a
collector (see `examples.tools.echo.tracing`)."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

import grpc

from examples.tools import echo
from examples.tools.echo.instance import InstanceFaults
from examples.tools.echo.tracing import EchoTracing
from examples.tools.serving import argument_parser, run


def _arguments(argv: list[str] | None) -> tuple[argparse.Namespace, InstanceFaults]:
    parser = argument_parser("echo", echo.__doc__ and echo.__doc__.splitlines()[0])
    parser.add_argument(
        "--instance",
        default="",
        metavar="NAME",
        help="label put in every response's `instance` field (default: empty)",
    )
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=0,
        metavar="N",
        help="answer every call N milliseconds late, whatever it asks (default: 0)",
    )
    parser.add_argument(
        "--fail-rate",
        type=float,
        default=0.0,
        metavar="R",
        help="fail each call with UNAVAILABLE with probability R in [0, 1], drawn per call "
        "(default: 0)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the random draws (--fail-rate and requests' failure_rate), for "
        "reproducible runs (default: unseeded)",
    )
    parser.add_argument(
        "--report-calls",
        action="store_true",
        help="on SIGUSR1, print 'echo calls: received=N cancelled=N failed=N' (totals since "
        "start) to stdout",
    )
    args = parser.parse_args(argv)
    try:
        faults = InstanceFaults(latency_ms=args.latency_ms, fail_rate=args.fail_rate)
    except ValueError as error:
        parser.error(str(error))  # exits 2 with the message
    return args, faults


def main(argv: list[str] | None = None) -> int:
    args, faults = _arguments(argv)
    servicer = echo.EchoServicer(instance=args.instance, seed=args.seed, faults=faults)
    # Spans only when OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT names a collector.
    tracing = EchoTracing.from_environment(instance=args.instance)

    async def start() -> tuple[grpc.aio.Server, str]:
        started = await echo.start(args.listen, servicer=servicer, tracing=tracing)
        if args.report_calls:
            # Installed before the listening line is printed, so a SIGUSR1 sent as soon as
            # the line is read is answered (its default action would end the process).
            asyncio.get_running_loop().add_signal_handler(
                signal.SIGUSR1, lambda: print(servicer.log.report(), flush=True)
            )
        return started

    try:
        return run("echo", start)
    finally:
        if tracing is not None:
            tracing.shutdown(timeout_s=2.0)  # a collector that is down does not hold the exit


if __name__ == "__main__":
    sys.exit(main())
