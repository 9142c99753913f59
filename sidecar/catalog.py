"""The sidecar's immutable view of the registry: which tool serves which `:path`, and where.

A new Catalog is built for every registry change and swapped in whole (one attribute
assignment), so the relay reads a consistent view without locks and calls in flight keep the
catalog they started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from google.protobuf import descriptor_pool

from mesh.addresses import Address, AddressError, parse_address
from mesh.api.v1 import registry_pb2
from mesh.descriptors import (
    DescriptorError,
    MethodShape,
    build_pool,
    method_shapes,
    served_services,
)


class ToolEntry:
    """One tool as the sidecar routes it. Built once per catalog; read-only afterwards."""

    __slots__ = ("_pool", "endpoints", "methods", "name", "services", "state")

    def __init__(self, state: registry_pb2.ToolState) -> None:
        self.state = state
        self.name: str = state.tool.name
        self.services = served_services(state.tool.services, state.tool.descriptors)
        self.endpoints: tuple[Address, ...] = _endpoints(state)
        self._pool: descriptor_pool.DescriptorPool | None = None
        try:
            self.methods: tuple[MethodShape, ...] = tuple(method_shapes(self.pool, self.services))
        except DescriptorError:
            # The registry validates descriptors before storing them; a cache file from an
            # older, laxer registry could still hold bad ones. Route nothing for such a tool.
            self.methods = ()

    @property
    def pool(self) -> descriptor_pool.DescriptorPool:
        """The tool's descriptor pool, built on first use (reflection, JSON conversion)."""
        if self._pool is None:
            self._pool = build_pool(self.state.tool.descriptors)
        return self._pool


def _endpoints(state: registry_pb2.ToolState) -> tuple[Address, ...]:
    seen: dict[str, Address] = {}
    for endpoint in (*state.tool.endpoints, *state.instances):
        if endpoint.address in seen:
            continue
        try:
            seen[endpoint.address] = parse_address(endpoint.address)
        except AddressError:
            continue  # validated by the registry; skip rather than fail the whole catalog
    return tuple(seen.values())


@dataclass(frozen=True)
class Catalog:
    """Every tool at one registry version, indexed for routing."""

    version: int = 0
    store_id: str = ""
    from_cache: bool = False
    tools: Mapping[str, ToolEntry] = field(default_factory=lambda: MappingProxyType({}))
    # `/pkg.Service/Method` -> tool; the relay's one lookup per call.
    by_path: Mapping[str, ToolEntry] = field(default_factory=lambda: MappingProxyType({}))
    # `pkg.Service` -> tool; for telling "unknown method" from "unknown service".
    by_service: Mapping[str, ToolEntry] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def build(
        cls,
        states: Iterable[registry_pb2.ToolState],
        *,
        version: int,
        store_id: str,
        from_cache: bool = False,
        reuse: Catalog | None = None,
    ) -> Catalog:
        """Indexes `states` (the first tool claiming a service or path wins, by name order).

        `reuse`: a previous catalog whose entries are taken over for tools whose state is
        unchanged (the same object or an equal message), so a change to one tool does not
        rebuild every other tool's descriptor pool.
        """
        tools: dict[str, ToolEntry] = {}
        by_path: dict[str, ToolEntry] = {}
        by_service: dict[str, ToolEntry] = {}
        previous = reuse.tools if reuse is not None else {}
        for state in sorted(states, key=lambda s: s.tool.name):
            entry = previous.get(state.tool.name)
            if entry is None or not (entry.state is state or entry.state == state):
                entry = ToolEntry(state)
            tools[entry.name] = entry
            for service in entry.services:
                by_service.setdefault(service, entry)
            for method in entry.methods:
                by_path.setdefault(method.path, entry)
        return cls(
            version=version,
            store_id=store_id,
            from_cache=from_cache,
            tools=MappingProxyType(tools),
            by_path=MappingProxyType(by_path),
            by_service=MappingProxyType(by_service),
        )

    def states(self) -> list[registry_pb2.ToolState]:
        """The registry records behind this catalog, ordered by tool name."""
        return [entry.state for entry in self.tools.values()]


class CatalogHolder:
    """The one mutable cell: the current catalog, replaced whole on every change."""

    __slots__ = ("catalog", "listeners")

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog: Catalog = catalog or Catalog()
        self.listeners: list[object] = []

    def replace(self, catalog: Catalog) -> None:
        self.catalog = catalog
        for listener in self.listeners:
            if callable(listener):
                listener(catalog)
