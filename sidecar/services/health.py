"""`grpc.health.v1.Health` over the catalog: a tool's services are SERVING while it has endpoints.

The servicer is grpcio-health-checking's asyncio one. `""` (the sidecar itself) and the
sidecar's own services are always SERVING; each registered tool's services are SERVING when
the tool has at least one endpoint and NOT_SERVING when it has none; services of removed tools
are forgotten (Check: NOT_FOUND; Watch: SERVICE_UNKNOWN), as the health protocol specifies.
"""

from __future__ import annotations

import asyncio
from typing import Any

from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health_pb2

from sidecar.catalog import Catalog, CatalogHolder
from sidecar.services.names import INTERNAL_SERVICES

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


def desired_statuses(catalog: Catalog) -> dict[str, int]:
    """{service: HealthCheckResponse.ServingStatus} the catalog implies, `""` included."""
    statuses: dict[str, int] = {"": SERVING}
    statuses.update(dict.fromkeys(INTERNAL_SERVICES, SERVING))
    for service, entry in catalog.by_service.items():
        statuses.setdefault(service, SERVING if entry.endpoints else NOT_SERVING)
    return statuses


class CatalogHealth:
    """Keeps a health servicer in step with a CatalogHolder.

    `start()` registers a listener on the holder and applies the current catalog; each
    replacement is applied by one background task, latest catalog first, so statuses never
    go backwards when catalogs arrive in a burst. `stop()` unregisters and sets every
    status NOT_SERVING (graceful shutdown).
    """

    def __init__(self, holder: CatalogHolder) -> None:
        self._holder = holder
        self.servicer: Any = health_aio.HealthServicer()  # untyped upstream
        self._latest: Catalog | None = None
        self._changed = asyncio.Event()
        self._applied: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        # Listen first: a catalog replaced while the current one is applied is not missed
        # (it sets `_changed`, and the follower task applies it next).
        self._holder.listeners.append(self._on_catalog)
        await self._apply(self._holder.catalog)
        self._task = self._loop.create_task(self._follow(), name="health-follow")

    async def stop(self) -> None:
        if self._on_catalog in self._holder.listeners:
            self._holder.listeners.remove(self._on_catalog)
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        await self.servicer.enter_graceful_shutdown()

    def _on_catalog(self, catalog: Catalog) -> None:
        # Called synchronously by CatalogHolder.replace(), possibly from another thread.
        self._latest = catalog
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._changed.set)

    async def _follow(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            catalog, self._latest = self._latest, None
            if catalog is not None:
                await self._apply(catalog)

    async def _apply(self, catalog: Catalog) -> None:
        wanted = desired_statuses(catalog)
        for service, status in wanted.items():
            if self._applied.get(service) != status:
                await self.servicer.set(service, status)
        for service in self._applied.keys() - wanted.keys():
            # Watchers are told SERVICE_UNKNOWN; then the entry goes, so Check says NOT_FOUND
            # (the aio servicer has no public way to forget a service).
            await self.servicer.set(service, SERVICE_UNKNOWN)
            self.servicer._server_status.pop(service, None)
        self._applied = wanted
