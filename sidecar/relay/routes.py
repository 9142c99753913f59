"""The table of Routes: one per (tool, method), rebuilt when the catalog changes."""

from __future__ import annotations

from sidecar.catalog import Catalog, CatalogHolder, ToolEntry
from sidecar.relay.call import Call
from sidecar.relay.route import Route


class RouteTable:
    """Maps `:path` to its Route for the current catalog; builds Routes lazily, once."""

    def __init__(self, holder: CatalogHolder) -> None:
        self.holder = holder
        self._catalog: Catalog | None = None
        self._routes: dict[str, Route] = {}

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
        return Route(entry.name, service, method, entry.endpoints)

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

    def deadline_details(self, call: Call, message: str) -> bytes:
        """The `grpc-status-details-bin` of a deadline the mesh enforced."""
        return b""
