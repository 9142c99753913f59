"""What the sidecar process is told at start (from flags or their environment twins)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:7401"
DEFAULT_REGISTRY = "127.0.0.1:7400"
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


def default_cache_path() -> str:
    """`$XDG_CACHE_HOME/toolmesh/sidecar-snapshot.pb` (`~/.cache/...` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "toolmesh" / "sidecar-snapshot.pb")


@dataclass(frozen=True, slots=True)
class SidecarOptions:
    """Sidecar settings. The CLI fills them; tests construct them directly."""

    listen: str = DEFAULT_LISTEN  # the agent-facing HTTP/2 address; port 0 picks a free port
    registry: str = DEFAULT_REGISTRY  # the registry's gRPC address
    metrics_listen: str | None = None  # Prometheus /metrics address; None: not served
    cache: str = field(default_factory=default_cache_path)  # last snapshot, for registry outages
    token: str | None = None  # bearer token presented to the registry
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES  # largest gRPC message relayed, each way
    grace_period_s: float = 10.0  # how long SIGTERM waits for calls in flight
    registry_wait_s: float = 2.0  # how long start-up waits for the registry before the cache
    upstream_connections: int = 2  # pooled HTTP/2 connections per tool endpoint
    policies: bool = True  # False: forward without resilience policies (a baseline to measure)
    invocation_log: bool = False  # one JSON line per tool call on stderr
    log_payloads_bytes: int = 0  # with invocation_log: each payload's JSON, cut at this; 0: off
    redact_fields: tuple[str, ...] = ()  # field names hidden in logged payloads (with defaults)
    # False: record no metrics and trace nothing, whatever OTEL_* say (a baseline to measure)
    telemetry: bool = True
