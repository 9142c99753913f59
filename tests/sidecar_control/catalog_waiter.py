"""Awaits catalog changes on a CatalogHolder (a listener, so no polling)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sidecar.catalog import Catalog, CatalogHolder


class CatalogWaiter:
    def __init__(self, holder: CatalogHolder) -> None:
        self.holder = holder
        self.seen: list[Catalog] = []
        self._changed = asyncio.Event()
        holder.listeners.append(self._on_catalog)

    def _on_catalog(self, catalog: Catalog) -> None:
        self.seen.append(catalog)
        self._changed.set()

    async def until(self, predicate: Callable[[Catalog], bool], timeout: float = 1.0) -> Catalog:
        """The holder's catalog once `predicate` holds for it; TimeoutError after `timeout` s."""

        async def wait() -> Catalog:
            while not predicate(self.holder.catalog):
                self._changed.clear()
                await self._changed.wait()
            return self.holder.catalog

        return await asyncio.wait_for(wait(), timeout)
