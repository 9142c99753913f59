"""The SQLite store: file creation and identification, refusal of bad files, persistence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from registry.errors import StoreError
from registry.schema import APPLICATION_ID, SCHEMA_VERSION
from registry.store import Store
from registry.validation import InstanceRegistration, validate_tool
from tests.registry.registry_harness import make_tool

DescriptorSet = descriptor_pb2.FileDescriptorSet


async def _filled(db: Path, echo: DescriptorSet, changes: int = 3) -> str:
    """Creates a registry file with `changes` changes; returns its store id."""
    store = await Store.open(str(db))
    try:
        for version in range(changes):
            tool = make_tool("echo", echo, version=str(version), description="d" * 3000)
            await store.register_tool(validate_tool(tool))
        return store.store_id
    finally:
        await store.close()


async def _refused(db: Path) -> str:
    before = db.read_bytes()
    with pytest.raises(StoreError) as refused:
        await Store.open(str(db))
    assert db.read_bytes() == before, "a refused file must be left as it was"
    message = str(refused.value)
    assert message.startswith(f"registry database {db}: ")
    assert "\n" not in message
    return message


async def test_a_new_file_is_created_complete(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    store = await Store.open(str(db))
    try:
        assert await store.version() == 0
        assert len(store.store_id) == 32
    finally:
        await store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db"]  # no temporary left
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert connection.execute("SELECT schema_version, version FROM meta").fetchone() == (
            SCHEMA_VERSION,
            0,
        )


async def test_an_empty_file_is_initialized(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    store = await Store.open(str(db))
    try:
        assert await store.version() == 0
    finally:
        await store.close()


async def test_versions_and_store_id_survive_reopening(tmp_path: Path, echo: DescriptorSet) -> None:
    db = tmp_path / "keep.db"
    store_id = await _filled(db, echo, changes=4)
    store = await Store.open(str(db))
    try:
        assert store.store_id == store_id
        assert await store.version() == 4
        state = await store.get_tool("echo")
        assert (state.tool.version, state.tool.revision) == ("3", 4)
        _, version, created = await store.register_tool(validate_tool(make_tool("echo", echo)))
        assert (version, created) == (5, False)
    finally:
        await store.close()
    other = await Store.open(str(tmp_path / "other.db"))
    try:
        assert other.store_id != store_id
    finally:
        await other.close()


async def test_the_change_log_is_trimmed(tmp_path: Path, echo: DescriptorSet) -> None:
    db = tmp_path / "trim.db"
    store = await Store.open(str(db), change_log_limit=5)
    try:
        for version in range(12):
            await store.register_tool(validate_tool(make_tool("echo", echo, version=str(version))))
    finally:
        await store.close()
    with sqlite3.connect(db) as connection:
        assert [
            row[0] for row in connection.execute("SELECT version FROM changes ORDER BY version")
        ] == [
            8,
            9,
            10,
            11,
            12,
        ]


async def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "text.db"
    db.write_text("these are my notes, not a database\n" * 10)
    assert "not a toolmesh registry database (not an SQLite file)" in await _refused(db)


async def test_another_applications_sqlite_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "foreign.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE notes (text TEXT)")
        connection.execute("INSERT INTO notes VALUES ('hello')")
    connection.close()
    assert "an SQLite file of another application" in await _refused(db)


async def test_a_corrupt_registry_file_is_refused(tmp_path: Path, echo: DescriptorSet) -> None:
    db = tmp_path / "corrupt.db"
    await _filled(db, echo, changes=3)
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) >= 4 * page
    data[2 * page : 4 * page] = b"\xa5" * (2 * page)  # garbage over two b-tree pages
    db.write_bytes(bytes(data))
    message = await _refused(db)
    assert "corrupt" in message


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    await (await Store.open(str(db))).close()
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE meta SET schema_version = ?", (SCHEMA_VERSION + 1,))
    connection.close()
    assert "written by a newer toolmesh" in await _refused(db)


async def test_a_file_in_use_by_another_registry_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    first = await Store.open(str(db))
    try:
        assert "in use by another registry process" in await _refused(db)
    finally:
        await first.close()
    await (await Store.open(str(db))).close()  # free again once the first one closed


async def test_a_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"directory .*missing does not exist"):
        await Store.open(str(tmp_path / "missing" / "registry.db"))


async def test_a_failed_mutation_changes_nothing(
    tmp_path: Path, echo: DescriptorSet, multi: DescriptorSet
) -> None:
    store = await Store.open(str(tmp_path / "atomic.db"))
    try:
        await store.register_tool(validate_tool(make_tool("echo", echo)))
        with pytest.raises(Exception, match="already served by tool 'echo'"):
            await store.register_tool(
                validate_tool(make_tool("both", DescriptorSet(file=[*echo.file, *multi.file])))
            )
        with pytest.raises(Exception, match="not registered"):
            await store.register_instance(InstanceRegistration("ghost", "i", "h:1", 10))
        tools, version = await store.list_tools()
        assert ([state.tool.name for state in tools], version) == (["echo"], 1)
        # The refused tool's other services were not claimed either.
        _, version, created = await store.register_tool(validate_tool(make_tool("multi", multi)))
        assert (version, created) == (2, True)
    finally:
        await store.close()
