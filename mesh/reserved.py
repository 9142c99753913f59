"""Services every sidecar serves itself; no tool may claim them."""

from __future__ import annotations

HEALTH_SERVICE = "grpc.health.v1.Health"
REFLECTION_V1_SERVICE = "grpc.reflection.v1.ServerReflection"
REFLECTION_V1ALPHA_SERVICE = "grpc.reflection.v1alpha.ServerReflection"
SIDECAR_SERVICE = "toolmesh.v1.Sidecar"

# Calls to these go to the sidecar's internal server, never to a tool; the registry refuses
# a tool that names one of them.
RESERVED_SERVICES: frozenset[str] = frozenset(
    {HEALTH_SERVICE, REFLECTION_V1_SERVICE, REFLECTION_V1ALPHA_SERVICE, SIDECAR_SERVICE}
)
