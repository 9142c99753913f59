"""What the registry process is told at start (from flags or their environment twins)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LISTEN = "127.0.0.1:7400"
DEFAULT_DB = "toolmesh-registry.db"


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """Registry settings. The CLI fills them; tests construct them directly."""

    listen: str = DEFAULT_LISTEN  # gRPC address; port 0 picks a free port
    db: str = DEFAULT_DB  # SQLite file, created when missing
    token: str | None = None  # bearer token required on mutations; None: no auth
    metrics_listen: str | None = None  # Prometheus /metrics address; None: not served
