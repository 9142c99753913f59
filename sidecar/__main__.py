"""`python -m sidecar --listen HOST:PORT --registry HOST:PORT [--cache PATH]`.

A minimal entry point; the full CLI (`toolmesh sidecar`) builds the same SidecarOptions.
"""

from __future__ import annotations

import argparse
import sys

from sidecar.app import main
from sidecar.options import DEFAULT_LISTEN, DEFAULT_REGISTRY, SidecarOptions, default_cache_path


def _options(argv: list[str]) -> SidecarOptions:
    parser = argparse.ArgumentParser(
        prog="python -m sidecar", description="Runs the toolmesh sidecar."
    )
    parser.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"agent-facing address (default {DEFAULT_LISTEN})"
    )
    parser.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        help=f"registry address (default {DEFAULT_REGISTRY})",
    )
    parser.add_argument("--cache", default=default_cache_path(), help="snapshot cache file")
    parser.add_argument("--metrics-listen", default=None, help="Prometheus /metrics address")
    parser.add_argument(
        "--upstream-connections", type=int, default=2, help="connections per endpoint"
    )
    parser.add_argument(
        "--no-policies",
        action="store_true",
        help="forward without resilience policies (a baseline for benchmarks)",
    )
    parser.add_argument(
        "--no-telemetry",
        action="store_true",
        help="record no metrics and trace nothing, ignoring OTEL_* (a baseline for benchmarks)",
    )
    arguments = parser.parse_args(argv)
    return SidecarOptions(
        listen=arguments.listen,
        registry=arguments.registry,
        cache=arguments.cache,
        metrics_listen=arguments.metrics_listen,
        upstream_connections=arguments.upstream_connections,
        policies=not arguments.no_policies,
        telemetry=not arguments.no_telemetry,
    )


if __name__ == "__main__":
    sys.exit(main(_options(sys.argv[1:])))
