"""The registry's persistent state behind an asyncio API.

All SQLite work runs on one dedicated thread (SQLite calls block, and fsync on commit takes
milliseconds), so the event loop never stalls. Operations run one at a time, in call order:
each mutation is one `BEGIN IMMEDIATE ... COMMIT` transaction that also bumps the version
by exactly one per change, and its listeners (the watch hub) are told of the committed change
before the next operation starts, so they see changes in version order.

A mutation that has reached the database thread completes and is announced even when the
caller is cancelled: a committed change is never hidden from watchers.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from mesh.api.v1 import policy_pb2, registry_pb2
from registry.errors import StorageFailure
from registry.leases import SYSTEM_CLOCK, Clock, lease_end
from registry.schema import OpenedDatabase, open_database
from registry.tables import Change, Tables, WatchStart, timestamp
from registry.validation import InstanceRef, InstanceRegistration, ToolDefinition

DEFAULT_CHANGE_LOG_LIMIT = 10_000  # changes kept for Watch resume

T = TypeVar("T")
ChangeListener = Callable[[Change], None]
_Mutation = Callable[[Tables, float], tuple[T, list[Change]]]

_log = logging.getLogger(__name__)


class Store:
    """The registry's state in one SQLite file. Create with `await Store.open(path)`."""

    def __init__(
        self,
        database: OpenedDatabase,
        executor: ThreadPoolExecutor,
        clock: Clock,
        change_log_limit: int,
    ) -> None:
        self._database = database
        self._tables = Tables(database.connection, change_log_limit)
        self._executor = executor
        self._clock = clock
        self._lock = asyncio.Lock()
        self._listeners: list[ChangeListener] = []
        self._store_id = ""
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        change_log_limit: int = DEFAULT_CHANGE_LOG_LIMIT,
    ) -> Store:
        """Opens (or creates) the database at `path`. Raises StoreError, leaving a file
        that is not a usable registry database untouched."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-store")
        loop = asyncio.get_running_loop()
        try:
            # Opened on the executor's thread: the connection is used only there.
            database = await loop.run_in_executor(executor, open_database, path)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        store = cls(database, executor, clock, change_log_limit)
        store._store_id = await store._read(lambda tables, now: tables.store_id())
        return store

    @property
    def store_id(self) -> str:
        """The random id made with the database file."""
        return self._store_id

    def add_listener(self, listener: ChangeListener) -> None:
        """Calls `listener` on the event loop after each committed change, in version order.
        It must not block or raise."""
        self._listeners.append(listener)

    async def close(self) -> None:
        """Waits for operations in flight, then closes the database."""
        async with self._lock:
            if self._closed:
                return
            self._closed = True
            await asyncio.get_running_loop().run_in_executor(self._executor, self._database.close)
        self._executor.shutdown(wait=True)

    # -- plumbing ------------------------------------------------------------------------

    def _on_thread(self, operation: Callable[[Tables, float], T], transaction: bool) -> T:
        db = self._database.connection
        try:
            if not transaction:
                return operation(self._tables, self._clock())
            db.execute("BEGIN IMMEDIATE")
            try:
                result = operation(self._tables, self._clock())
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            return result
        except sqlite3.Error as error:
            _log.error("registry database operation failed: %s", error)
            raise StorageFailure(
                f"registry database failed; nothing was changed: {error}"
            ) from None

    async def _run(self, operation: Callable[[Tables, float], T], transaction: bool) -> T:
        async with self._lock:
            if self._closed:
                raise StorageFailure("registry store is closed")
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(
                self._executor, self._on_thread, operation, transaction
            )

    async def _read(self, operation: Callable[[Tables, float], T]) -> T:
        return await self._run(operation, transaction=False)

    async def _mutate(self, operation: _Mutation[T]) -> T:
        async def commit_and_announce() -> T:
            async with self._lock:
                if self._closed:
                    raise StorageFailure("registry store is closed")
                loop = asyncio.get_running_loop()
                result, changes = await loop.run_in_executor(
                    self._executor, self._on_thread, operation, True
                )
                for change in changes:
                    for listener in self._listeners:
                        listener(change)
                return result

        # Shielded: once started, the commit and its announcement finish even if the
        # caller goes away, so watchers never miss a committed change.
        return await asyncio.shield(asyncio.ensure_future(commit_and_announce()))

    # -- reads ---------------------------------------------------------------------------

    async def version(self) -> int:
        """The version of the last change (0 for a new store)."""
        return await self._read(lambda tables, now: tables.version())

    async def get_tool(self, name: str) -> registry_pb2.ToolState:
        """One tool with its live instances; raises NotFound."""
        return await self._read(lambda tables, now: tables.state(name, now))

    async def list_tools(self) -> tuple[list[registry_pb2.ToolState], int]:
        """Every tool ordered by name, and the version this listing reflects."""
        return await self._read(lambda tables, now: (tables.all_states(now), tables.version()))

    async def watch_start(self, since_version: int) -> WatchStart:
        """What a watcher that applied `since_version` is sent first (see WatchStart)."""
        return await self._read(lambda tables, now: tables.watch_start(since_version, now))

    async def next_lease_end(self) -> float | None:
        """The earliest lease end of any instance (wall-clock seconds), None when none."""
        return await self._read(lambda tables, now: tables.next_lease_end())

    # -- mutations -----------------------------------------------------------------------

    async def register_tool(
        self, definition: ToolDefinition
    ) -> tuple[registry_pb2.ToolState, int, bool]:
        """Creates or replaces a tool: (state, version, created). Raises AlreadyExists when
        another tool serves one of its services."""

        def operation(
            tables: Tables, now: float
        ) -> tuple[tuple[registry_pb2.ToolState, int, bool], list[Change]]:
            change, created = tables.register_tool(definition, now)
            assert change.state is not None
            return (change.state, change.version, created), [change]

        return await self._mutate(operation)

    async def deregister_tool(self, name: str) -> int:
        """Removes a tool with its endpoints, instances and policy; returns the version."""
        return await self._mutate(lambda tables, now: _version_of(tables.deregister_tool(name)))

    async def add_endpoints(
        self, name: str, addresses: list[str]
    ) -> tuple[registry_pb2.ToolState, int]:
        """Adds static endpoints; the version is unchanged when all were present."""
        return await self._mutate(
            lambda tables, now: _state_after(
                tables, name, now, tables.add_endpoints(name, addresses, now)
            )
        )

    async def remove_endpoints(
        self, name: str, addresses: list[str]
    ) -> tuple[registry_pb2.ToolState, int]:
        """Removes static endpoints; the version is unchanged when none was present."""
        return await self._mutate(
            lambda tables, now: _state_after(
                tables, name, now, tables.remove_endpoints(name, addresses, now)
            )
        )

    async def set_policy(self, name: str, policy: policy_pb2.ToolPolicy | None) -> int:
        """Replaces (None: clears) a tool's policy; returns the version."""
        return await self._mutate(
            lambda tables, now: _version_of(tables.set_policy(name, policy, now))
        )

    async def register_instance(
        self, registration: InstanceRegistration
    ) -> tuple[registry_pb2.Endpoint, int]:
        """Stores (or renews) a leased instance: (the instance with its lease end, version)."""

        def operation(
            tables: Tables, now: float
        ) -> tuple[tuple[registry_pb2.Endpoint, int], list[Change]]:
            expires_at = lease_end(now, registration.ttl)
            change = tables.register_instance(registration, now, expires_at)
            instance = registry_pb2.Endpoint(
                address=registration.address,
                instance_id=registration.instance_id,
                lease_expires_at=timestamp(expires_at),
            )
            return (instance, change.version), [change]

        return await self._mutate(operation)

    async def heartbeat(self, ref: InstanceRef) -> float:
        """Renews a live lease; returns its new end. Raises NotFound when expired/unknown."""
        return await self._mutate(lambda tables, now: (tables.renew_lease(ref, now), []))

    async def deregister_instance(self, ref: InstanceRef) -> int:
        """Removes a leased instance at once; returns the version."""
        return await self._mutate(
            lambda tables, now: _version_of(tables.deregister_instance(ref, now))
        )

    async def expire_instances(self, now: float) -> list[int]:
        """Removes every instance whose lease ended at or before `now`, one transaction
        and one version each; returns the versions."""
        expired = await self._read(lambda tables, _: tables.expired_instances(now))
        versions = []
        for tool, instance_id in expired:

            def operation(
                tables: Tables, _: float, tool: str = tool, instance_id: str = instance_id
            ) -> tuple[int | None, list[Change]]:
                change = tables.expire_instance(tool, instance_id, now)
                return (None, []) if change is None else (change.version, [change])

            version = await self._mutate(operation)
            if version is not None:
                versions.append(version)
        return versions


def _version_of(change: Change) -> tuple[int, list[Change]]:
    """The result of a mutation that answers with the version of its one change."""
    return change.version, [change]


def _state_after(
    tables: Tables, name: str, now: float, change: Change | None
) -> tuple[tuple[registry_pb2.ToolState, int], list[Change]]:
    """The result of an endpoint edit: the tool's state and version, plus the change if any."""
    if change is None:
        return (tables.state(name, now), tables.version()), []
    assert change.state is not None
    return (change.state, change.version), [change]
