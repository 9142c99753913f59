"""`python -m bench [--quick] [--write FILE] [--profile]`: every benchmark, one after another.

Runs the forwarding benchmark (`bench.forwarding`: direct vs sidecar with and without its
policies vs nginx), the resilience benchmark (`bench.resilience`: a slow and a flaky tool
instance) and the telemetry benchmark (`bench.telemetry`: metrics and tracing against
telemetry off), passing `--quick` and `--write` to each and `--profile` to the first and
the last. The exit status is the worst of theirs (0 all valid, 1 a target unavailable or a
run invalid, 2 a benchmark could not run at all); each runs whatever the previous returned.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench import command, forwarding, resilience, telemetry


def main(argv: Sequence[str] | None = None) -> int:
    parser = command.parser(
        "python -m bench",
        "Every toolmesh benchmark: forwarding cost, resilience scenarios, then telemetry cost.",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile the sidecar (bench.forwarding, bench.telemetry)",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    common = (["--quick"] if args.quick else []) + (
        ["--write", str(args.write)] if args.write is not None else []
    )
    statuses = [
        forwarding.main([*common, *(["--profile"] if args.profile else [])]),
        resilience.main(common),
        telemetry.main([*common, *(["--profile"] if args.profile else [])]),
    ]
    return max(statuses)


if __name__ == "__main__":
    sys.exit(main())
