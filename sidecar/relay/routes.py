"""The table of Routes: one per (tool, method), rebuilt when the catalog changes."""

from __future__ import annotations

import random

from mesh.telemetry.metrics import SidecarMetrics
from sidecar.catalog import Catalog, CatalogHolder, ToolEntry
from sidecar.relay.policy_route import PolicyRoute, ToolRuntime, new_runtime
from sidecar.relay.route import Route


class RouteTable:
    """Maps `:path` to its Route for the current catalog; builds Routes lazily, once."""

    def __init__(
        self,
        holder: CatalogHolder,
        metrics: SidecarMetrics,
        rng: random.Random | None = None,
        *,
        policies: bool = True,
    ) -> None:
        self.holder = holder
        self.metrics = metrics
        self.policies = policies  # False: plain forwarding (the benchmark's baseline)
        self.rng = rng or random.Random()
        self._catalog: Catalog | None = None
        self._routes: dict[str, Route] = {}
        # Per tool, with the catalog it was checked against: policy state outlives catalogs.
        self._runtimes: dict[str, tuple[Catalog, ToolRuntime]] = {}

    def route(self, path: str) -> Route | None:
        catalog = self.holder.catalog
        if catalog is not self._catalog:
            # A new catalog: Routes are rebuilt on demand. Calls in flight keep theirs.
            self._catalog = catalog
            self._routes = {}
        route = self._routes.get(path)
        if route is None:
            entry = catalog.by_path.get(path)
            if entry is None:
                return None
            route = self._build(entry, path)
            self._routes[path] = route
        return route

    def _build(self, entry: ToolEntry, path: str) -> Route:
        service, _, method = path[1:].partition("/")
        metrics = self.metrics.route(entry.name, path[1:])
        if not self.policies:
            return Route(entry.name, service, method, entry.endpoints, metrics)
        return PolicyRoute(entry, service, method, self.runtime(entry), metrics)

    def runtime(self, entry: ToolEntry) -> ToolRuntime:
        """The tool's policy state for the current catalog (rebuilt when its policy changed)."""
        catalog = self.holder.catalog
        known = self._runtimes.get(entry.name)
        if known is not None and known[0] is catalog:
            return known[1]
        runtime = new_runtime(
            entry, known[1] if known is not None else None, self.rng, self.metrics.tool(entry.name)
        )
        self._runtimes[entry.name] = (catalog, runtime)
        return runtime

    def fallback_route(self, primary: Route) -> Route | None:
        """The Route of the primary's fallback tool for the same method name, if any."""
        catalog = self.holder.catalog
        entry = catalog.tools.get(primary.fallback)
        if entry is None:
            return None
        for shape in entry.methods:
            if shape.name == primary.method:
                return self.route(shape.path)
        return None
