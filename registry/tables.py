"""The SQL of every registry operation, synchronous, on one SQLite connection.

`Tables` knows the schema (see `registry.schema`) and nothing of threads or asyncio: each
mutating method runs inside a transaction that `registry.store.Store` opens and commits, and
returns the `Change`s it made. A method that finds a problem raises a `RegistryError`
before writing anything, so the store's rollback leaves the file unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf import timestamp_pb2

from mesh.api.v1 import policy_pb2, registry_pb2
from registry.errors import AlreadyExists, NotFound
from registry.validation import InstanceRef, InstanceRegistration, ToolDefinition


@dataclass(frozen=True, slots=True)
class Change:
    """One committed change: the version it produced and the tool it touched.

    `state` is the tool as of that version, or None when the change removed the tool.
    """

    version: int
    tool: str
    state: registry_pb2.ToolState | None


@dataclass(frozen=True, slots=True)
class WatchStart:
    """What a new watcher is sent first, read at `version`.

    Exactly one of the two is meaningful: `snapshot` (every tool) when the watcher must
    start over, else `changes` (each tool changed since its version, once, oldest first).
    """

    version: int
    snapshot: list[registry_pb2.ToolState] | None
    changes: list[Change]


def timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    """A protobuf Timestamp for wall-clock `seconds` since the epoch."""
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(round(seconds * 1e9))
    return stamp


def _not_registered(name: str) -> NotFound:
    return NotFound(f"tool {name!r} is not registered")


class Tables:
    """The registry's rows on `connection` (autocommit mode; the caller owns transactions).

    `change_log_limit` bounds the change log: older entries are trimmed, and a watcher
    resuming from before them receives a snapshot instead.
    """

    def __init__(self, connection: sqlite3.Connection, change_log_limit: int) -> None:
        self._db = connection
        self._change_log_limit = change_log_limit

    # -- reads ---------------------------------------------------------------------------

    def store_id(self) -> str:
        return str(self._db.execute("SELECT store_id FROM meta WHERE id = 1").fetchone()[0])

    def version(self) -> int:
        return int(self._db.execute("SELECT version FROM meta WHERE id = 1").fetchone()[0])

    def _definition(self, name: str) -> registry_pb2.Tool | None:
        row = self._db.execute(
            "SELECT definition, revision FROM tools WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            return None
        tool = registry_pb2.Tool.FromString(row[0])
        tool.revision = row[1]
        return tool

    def _require(self, name: str) -> registry_pb2.Tool:
        tool = self._definition(name)
        if tool is None:
            raise _not_registered(name)
        return tool

    def state(self, name: str, now: float) -> registry_pb2.ToolState:
        """The tool with its unexpired instances; raises NotFound when unknown."""
        return self._state_of(self._require(name), now)

    def _state_of(self, tool: registry_pb2.Tool, now: float) -> registry_pb2.ToolState:
        rows = self._db.execute(
            "SELECT instance_id, address, expires_at FROM instances"
            " WHERE tool = ? AND expires_at > ? ORDER BY instance_id",
            (tool.name, now),
        ).fetchall()
        instances = [
            registry_pb2.Endpoint(
                address=address, instance_id=instance_id, lease_expires_at=timestamp(end)
            )
            for instance_id, address, end in rows
        ]
        return registry_pb2.ToolState(tool=tool, instances=instances)

    def all_states(self, now: float) -> list[registry_pb2.ToolState]:
        """Every tool, ordered by name."""
        names = [row[0] for row in self._db.execute("SELECT name FROM tools ORDER BY name")]
        return [self.state(name, now) for name in names]

    def watch_start(self, since_version: int, now: float) -> WatchStart:
        """What a watcher that applied `since_version` needs to catch up (see WatchStart)."""
        current = self.version()
        if since_version == current != 0:
            return WatchStart(current, None, [])
        resumable = 0 < since_version < current and (
            self._db.execute(
                "SELECT 1 FROM changes WHERE version = ?", (since_version + 1,)
            ).fetchone()
            is not None
        )
        if not resumable:
            return WatchStart(current, self.all_states(now), [])
        rows = self._db.execute(
            "SELECT tool, MAX(version) AS last FROM changes WHERE version > ?"
            " GROUP BY tool ORDER BY last",
            (since_version,),
        ).fetchall()
        changes = []
        for name, last in rows:
            tool = self._definition(name)
            changes.append(Change(last, name, None if tool is None else self._state_of(tool, now)))
        return WatchStart(current, None, changes)

    def next_lease_end(self) -> float | None:
        row = self._db.execute("SELECT MIN(expires_at) FROM instances").fetchone()
        return None if row[0] is None else float(row[0])

    def expired_instances(self, now: float) -> list[tuple[str, str]]:
        """(tool, instance id) of every lease that ended at or before `now`, oldest first."""
        return [
            (tool, instance_id)
            for tool, instance_id in self._db.execute(
                "SELECT tool, instance_id FROM instances WHERE expires_at <= ?"
                " ORDER BY expires_at, tool, instance_id",
                (now,),
            )
        ]

    # -- changes -------------------------------------------------------------------------

    def _record_change(self, name: str) -> int:
        """Bumps the version by one, logs it against `name` and trims the log."""
        self._db.execute("UPDATE meta SET version = version + 1 WHERE id = 1")
        version = self.version()
        self._db.execute("INSERT INTO changes (version, tool) VALUES (?, ?)", (version, name))
        self._db.execute(
            "DELETE FROM changes WHERE version <= ?", (version - self._change_log_limit,)
        )
        self._db.execute("UPDATE tools SET revision = ? WHERE name = ?", (version, name))
        return version

    def _changed(self, name: str, now: float) -> Change:
        version = self._record_change(name)
        return Change(version, name, self.state(name, now))

    def _write_definition(self, tool: registry_pb2.Tool) -> None:
        stored = registry_pb2.Tool()
        stored.CopyFrom(tool)
        stored.revision = 0  # kept in its own column
        self._db.execute(
            "INSERT INTO tools (name, definition, revision) VALUES (?, ?, 0)"
            " ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
            (tool.name, stored.SerializeToString(deterministic=True)),
        )

    def register_tool(self, definition: ToolDefinition, now: float) -> tuple[Change, bool]:
        """Creates or replaces a tool; returns the change and whether it was created."""
        tool = definition.tool
        marks = ",".join("?" * len(definition.services))
        owned = self._db.execute(
            f"SELECT service, tool FROM services WHERE service IN ({marks}) AND tool != ?"
            " ORDER BY service",
            (*definition.services, tool.name),
        ).fetchall()
        if owned:
            raise AlreadyExists(
                "; ".join(
                    f"tool.services: service {service!r} is already served by tool {owner!r}"
                    for service, owner in owned
                )
            )
        existing = self._definition(tool.name)
        stored = registry_pb2.Tool()
        stored.CopyFrom(tool)
        if existing is not None and not definition.replaces_policy:
            stored.ClearField("policy")
            if existing.HasField("policy"):
                stored.policy.CopyFrom(existing.policy)
        self._write_definition(stored)
        self._db.execute("DELETE FROM services WHERE tool = ?", (tool.name,))
        self._db.executemany(
            "INSERT INTO services (service, tool) VALUES (?, ?)",
            [(service, tool.name) for service in definition.services],
        )
        return self._changed(tool.name, now), existing is None

    def deregister_tool(self, name: str) -> Change:
        self._require(name)
        for table in ("instances", "services"):
            self._db.execute(f"DELETE FROM {table} WHERE tool = ?", (name,))
        self._db.execute("DELETE FROM tools WHERE name = ?", (name,))
        return Change(self._record_change(name), name, None)

    def add_endpoints(self, name: str, addresses: Iterable[str], now: float) -> Change | None:
        """Adds the addresses the tool lacks; None when it had them all (no change)."""
        tool = self._require(name)
        present = {endpoint.address for endpoint in tool.endpoints}
        new = [address for address in addresses if address not in present]
        if not new:
            return None
        tool.endpoints.extend(registry_pb2.Endpoint(address=address) for address in new)
        self._write_definition(tool)
        return self._changed(name, now)

    def remove_endpoints(self, name: str, addresses: Iterable[str], now: float) -> Change | None:
        """Removes the listed addresses; None when the tool had none of them (no change)."""
        tool = self._require(name)
        gone = set(addresses)
        kept = [endpoint for endpoint in tool.endpoints if endpoint.address not in gone]
        if len(kept) == len(tool.endpoints):
            return None
        del tool.endpoints[:]
        tool.endpoints.extend(kept)
        self._write_definition(tool)
        return self._changed(name, now)

    def set_policy(self, name: str, policy: policy_pb2.ToolPolicy | None, now: float) -> Change:
        tool = self._require(name)
        tool.ClearField("policy")
        if policy is not None:
            tool.policy.CopyFrom(policy)
        self._write_definition(tool)
        return self._changed(name, now)

    def register_instance(
        self, registration: InstanceRegistration, now: float, expires_at: float
    ) -> Change:
        self._require(registration.tool)
        self._db.execute(
            "INSERT INTO instances (tool, instance_id, address, ttl, expires_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tool, instance_id) DO UPDATE SET"
            " address = excluded.address, ttl = excluded.ttl, expires_at = excluded.expires_at",
            (
                registration.tool,
                registration.instance_id,
                registration.address,
                registration.ttl,
                expires_at,
            ),
        )
        return self._changed(registration.tool, now)

    def renew_lease(self, ref: InstanceRef, now: float) -> float:
        """Extends an unexpired lease by its TTL from `now`; returns the new end. Not a
        change: no version, no watch message (the lease end is not worth waking watchers)."""
        self._require(ref.tool)
        row = self._db.execute(
            "SELECT ttl FROM instances WHERE tool = ? AND instance_id = ? AND expires_at > ?",
            (ref.tool, ref.instance_id, now),
        ).fetchone()
        if row is None:
            raise NotFound(
                f"instance {ref.instance_id!r} of tool {ref.tool!r} is not registered or its "
                "lease expired: register it again"
            )
        expires_at = now + float(row[0])
        self._db.execute(
            "UPDATE instances SET expires_at = ? WHERE tool = ? AND instance_id = ?",
            (expires_at, ref.tool, ref.instance_id),
        )
        return expires_at

    def deregister_instance(self, ref: InstanceRef, now: float) -> Change:
        self._require(ref.tool)
        removed = self._db.execute(
            "DELETE FROM instances WHERE tool = ? AND instance_id = ?",
            (ref.tool, ref.instance_id),
        ).rowcount
        if not removed:
            raise NotFound(f"instance {ref.instance_id!r} of tool {ref.tool!r} is not registered")
        return self._changed(ref.tool, now)

    def expire_instance(self, tool: str, instance_id: str, now: float) -> Change | None:
        """Removes one instance if its lease has still ended by `now` (it may have been
        renewed since it was listed as expired)."""
        removed = self._db.execute(
            "DELETE FROM instances WHERE tool = ? AND instance_id = ? AND expires_at <= ?",
            (tool, instance_id, now),
        ).rowcount
        return self._changed(tool, now) if removed else None
