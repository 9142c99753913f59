"""The table of Routes: one per (tool, method), rebuilt when the catalog changes."""

from __future__ import annotations

import random

from mesh.descriptors import MethodShape
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
        """The Route of the primary's fallback tool for the same method name and shape (the
        same request and response types and streaming), if any. The registry refuses a
        fallback that does not fit when the policy is set, but the fallback tool may have
        changed since: a method of another shape would receive messages it cannot read."""
        catalog = self.holder.catalog
        entry = catalog.tools.get(primary.fallback)
        primary_entry = catalog.tools.get(primary.tool)
        if entry is None or primary_entry is None:
            return None
        wanted = next(
            (
                shape
                for shape in primary_entry.methods
                if shape.service == primary.service and shape.name == primary.method
            ),
            None,
        )
        if wanted is None:
            return None
        for shape in entry.methods:
            if shape.name == primary.method:
                if _same_shape(shape, wanted):
                    return self.route(shape.path)
                return None  # the first of that name is the one the registry checked
        return None


def _same_shape(a: MethodShape, b: MethodShape) -> bool:
    return (
        a.input_type == b.input_type
        and a.output_type == b.output_type
        and a.client_streaming == b.client_streaming
        and a.server_streaming == b.server_streaming
    )
