"""Names of the services the sidecar serves itself (imported by the relay: keep it light)."""

from __future__ import annotations

from mesh.reserved import (
    HEALTH_SERVICE,
    REFLECTION_V1_SERVICE,
    REFLECTION_V1ALPHA_SERVICE,
    RESERVED_SERVICES,
    SIDECAR_SERVICE,
)

# Calls to these services go to the sidecar's internal server, never to a tool.
INTERNAL_SERVICES: frozenset[str] = RESERVED_SERVICES

__all__ = [
    "HEALTH_SERVICE",
    "INTERNAL_SERVICES",
    "REFLECTION_V1ALPHA_SERVICE",
    "REFLECTION_V1_SERVICE",
    "SIDECAR_SERVICE",
]
