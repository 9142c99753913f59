"""The registry's SQLite file: creation, identification, integrity check and migration.

A new file is built complete under a temporary name and renamed into place, so the path
either does not exist or holds a whole registry database (a crash during creation leaves at
most a stray temporary file). An existing file is checked before anything is written to it:
SQLite's header, the application id that marks a toolmesh registry, `PRAGMA quick_check`
(on a read-only connection) and the schema version. Any failure raises `StoreError` with one
line naming the file and the problem, and leaves the file as it was.

The file is then locked (`flock`) for the life of the store, so a second registry process
cannot write the same file and break the version sequence.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from registry.errors import StoreError

APPLICATION_ID = 0x546D5267  # "TmRg": marks a toolmesh registry file in SQLite's header
SCHEMA_VERSION = 1

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_APPLICATION_ID_OFFSET = 68  # big-endian 32-bit integer in SQLite's file header

_SCHEMA = (
    """CREATE TABLE meta (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        schema_version INTEGER NOT NULL,
        store_id TEXT NOT NULL,    -- random, made with the file: tells watchers of a new store
        version INTEGER NOT NULL   -- the version of the last change, +1 per change
    )""",
    """CREATE TABLE tools (
        name TEXT PRIMARY KEY,
        definition BLOB NOT NULL,  -- serialized toolmesh.v1.Tool (static endpoints, policy)
        revision INTEGER NOT NULL  -- the version of the tool's last change
    )""",
    """CREATE TABLE services (
        service TEXT PRIMARY KEY,  -- a service belongs to at most one tool
        tool TEXT NOT NULL REFERENCES tools (name)
    )""",
    "CREATE INDEX services_by_tool ON services (tool)",
    """CREATE TABLE instances (
        tool TEXT NOT NULL REFERENCES tools (name),
        instance_id TEXT NOT NULL,
        address TEXT NOT NULL,
        ttl REAL NOT NULL,         -- seconds, by which a heartbeat renews the lease
        expires_at REAL NOT NULL,  -- wall-clock seconds since the epoch
        PRIMARY KEY (tool, instance_id)
    )""",
    "CREATE INDEX instances_by_expiry ON instances (expires_at)",
    """CREATE TABLE changes (
        version INTEGER PRIMARY KEY,  -- every version from the oldest kept to the current
        tool TEXT NOT NULL            -- the one tool that change touched
    )""",
)

# Schema version N -> the statements that bring a version-N file to version N+1.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {}


@dataclass(slots=True)
class OpenedDatabase:
    """A checked registry database: the connection (autocommit; callers open their own
    transactions) and the lock that keeps other registries out. `close()` releases both."""

    connection: sqlite3.Connection
    lock_fd: int

    def close(self) -> None:
        self.connection.close()
        # Closed after SQLite's own descriptors: closing any descriptor of a file drops
        # the process's POSIX locks on it, which SQLite relies on.
        os.close(self.lock_fd)


def open_database(path: str) -> OpenedDatabase:
    """Opens the registry database at `path`, creating it when missing or empty.

    Must be called on the thread that will use the connection. Raises StoreError.
    """
    try:
        return _open(Path(path).expanduser())
    except OSError as error:  # e.g. a directory on the way that cannot be searched
        raise StoreError(f"registry database {path}: {error.strerror or error}") from None


def _open(file: Path) -> OpenedDatabase:
    path = str(file)
    if file.is_dir():
        raise StoreError(f"registry database {path}: is a directory")
    if not file.exists() or (file.stat().st_size == 0 and not _wal_path(file).exists()):
        _create(file)
    lock_fd = _lock(file)
    try:
        _check_header(file)
        _check_contents(file)
        connection = _connect(file)
        try:
            _migrate(connection, path)
        except BaseException:
            connection.close()
            raise
    except BaseException:
        os.close(lock_fd)
        raise
    return OpenedDatabase(connection, lock_fd)


def _wal_path(file: Path) -> Path:
    return file.with_name(file.name + "-wal")


def _create(file: Path) -> None:
    directory = file.parent
    if not directory.is_dir():
        raise StoreError(f"registry database {file}: directory {directory} does not exist")
    temporary = directory / f".{file.name}.{secrets.token_hex(4)}.creating"
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                connection.execute(statement)
            connection.execute(
                "INSERT INTO meta (id, schema_version, store_id, version) VALUES (1, ?, ?, 0)",
                (SCHEMA_VERSION, secrets.token_hex(16)),
            )
            connection.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            connection.execute("COMMIT")
        finally:
            connection.close()  # checkpoints the WAL into the file and removes it
        _fsync(temporary)
        os.replace(temporary, file)
        _fsync(directory)
    except (OSError, sqlite3.Error) as error:
        temporary.unlink(missing_ok=True)
        raise StoreError(f"registry database {file}: cannot create it: {error}") from None


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(file: Path) -> int:
    try:
        fd = os.open(file, os.O_RDONLY)
    except OSError as error:
        raise StoreError(f"registry database {file}: cannot open it: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise StoreError(f"registry database {file}: in use by another registry process") from None
    return fd


def _check_header(file: Path) -> None:
    try:
        with file.open("rb") as stream:
            header = stream.read(_HEADER_SIZE)
    except OSError as error:
        raise StoreError(f"registry database {file}: cannot read it: {error.strerror}") from None
    if len(header) < _HEADER_SIZE or not header.startswith(_SQLITE_MAGIC):
        raise StoreError(
            f"registry database {file}: not a toolmesh registry database (not an SQLite file)"
        )
    offset = _APPLICATION_ID_OFFSET
    application_id = int.from_bytes(header[offset : offset + 4], "big")
    if application_id != APPLICATION_ID:
        raise StoreError(
            f"registry database {file}: not a toolmesh registry database (an SQLite file of "
            f"another application, application id {application_id:#x})"
        )


def _uri(file: Path, mode: str) -> str:
    return f"file:{quote(str(file.absolute()))}?mode={mode}"


def _check_contents(file: Path) -> None:
    """Runs SQLite's integrity check on a read-only connection, so a bad file stays as is.

    SQLite may create empty `-wal`/`-shm` companions even for reading; when the file is
    refused, those it created are removed again.
    """
    companions = [file.with_name(file.name + suffix) for suffix in ("-wal", "-shm")]
    created = [companion for companion in companions if not companion.exists()]
    try:
        try:
            connection = sqlite3.connect(_uri(file, "ro"), uri=True, isolation_level=None)
            try:
                rows = connection.execute("PRAGMA quick_check").fetchall()
            finally:
                connection.close()
        except sqlite3.Error as error:
            raise StoreError(f"registry database {file}: corrupt or unreadable: {error}") from None
        if rows != [("ok",)]:
            raise StoreError(f"registry database {file}: corrupt: {rows[0][0]}")
    except StoreError:
        for companion in created:
            if companion.exists() and (
                companion.name.endswith("-shm") or not companion.stat().st_size
            ):
                companion.unlink()
        raise


def _connect(file: Path) -> sqlite3.Connection:
    try:
        connection = sqlite3.connect(_uri(file, "rw"), uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise StoreError(f"registry database {file}: cannot open it: {error}") from None
    try:
        # WAL + FULL: a COMMIT returns only once the change is on disk, and a crash at any
        # moment leaves the last committed state (the WAL is replayed on the next open).
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute("PRAGMA synchronous = FULL")
        connection.execute("PRAGMA foreign_keys = ON")
    except sqlite3.Error as error:
        connection.close()
        raise StoreError(f"registry database {file}: cannot open it: {error}") from None
    return connection


def _migrate(connection: sqlite3.Connection, path: str) -> None:
    try:
        row = connection.execute("SELECT schema_version FROM meta WHERE id = 1").fetchone()
    except sqlite3.Error as error:
        raise StoreError(f"registry database {path}: missing registry tables: {error}") from None
    if row is None:
        raise StoreError(f"registry database {path}: missing its meta row")
    found = int(row[0])
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"registry database {path}: written by a newer toolmesh (schema version {found}, "
            f"this registry reads up to {SCHEMA_VERSION})"
        )
    while found < SCHEMA_VERSION:
        step = _MIGRATIONS.get(found)
        if step is None:
            raise StoreError(f"registry database {path}: no migration from schema version {found}")
        try:
            connection.execute("BEGIN IMMEDIATE")
            step(connection)
            connection.execute("UPDATE meta SET schema_version = ? WHERE id = 1", (found + 1,))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise StoreError(
                f"registry database {path}: migration from schema version {found} failed: {error}"
            ) from None
        found += 1
