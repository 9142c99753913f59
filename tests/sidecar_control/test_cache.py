"""The snapshot cache file: atomic writes, round trip, tolerant reads, coalesced writer."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mesh.api.v1 import registry_pb2
from sidecar.cache import SnapshotWriter, read_snapshot, snapshot_message, write_snapshot

from .compiled import bare_tool, tool_state


def test_round_trip_keeps_version_store_and_every_tool(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "snapshot.pb"  # parent directories are created
    states = [tool_state("echo", endpoints=["127.0.0.1:1"]), bare_tool("other", "o.v1.O")]
    write_snapshot(path, snapshot_message(42, "store-1", states))
    cached = read_snapshot(path)
    assert cached is not None
    assert (cached.version, cached.store_id, cached.path) == (42, "store-1", path)
    assert list(cached.tools) == states
    assert cached.written_at.tzinfo is not None


def test_missing_file_is_none_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert read_snapshot(tmp_path / "nope.pb") is None
    assert not caplog.records


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "the file is empty"),
        (b"\xff\xff\xff\xff\xff", "not a toolmesh.v1.WatchResponse"),
        (registry_pb2.WatchResponse(version=5).SerializeToString(), "holds no snapshot"),
    ],
)
def test_corrupt_file_is_none_with_a_warning_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, problem: str
) -> None:
    path = tmp_path / "snapshot.pb"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert read_snapshot(path) is None
    [record] = caplog.records
    assert str(path) in record.getMessage() and problem in record.getMessage()


def test_truncated_file_is_rejected(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "snapshot.pb"
    data = snapshot_message(3, "s", [tool_state("echo")]).SerializeToString()
    path.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING):
        assert read_snapshot(path) is None
    assert "corrupt" in caplog.text and str(path) in caplog.text


def test_unreadable_path_is_none_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "a-directory"
    path.mkdir()
    with caplog.at_level(logging.WARNING):
        assert read_snapshot(path) is None
    assert "unreadable" in caplog.text and str(path) in caplog.text


def test_write_replaces_atomically_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.pb"
    write_snapshot(path, snapshot_message(1, "s", [bare_tool("a", "a.A")]))
    write_snapshot(path, snapshot_message(2, "s", [bare_tool("b", "b.B")]))
    assert os.listdir(tmp_path) == ["snapshot.pb"]
    cached = read_snapshot(path)
    assert cached is not None and cached.version == 2


def test_failed_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "snapshot.pb"
    write_snapshot(path, snapshot_message(1, "s", [bare_tool("a", "a.A")]))

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space left"):
        write_snapshot(path, snapshot_message(2, "s", [bare_tool("b", "b.B")]))
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["snapshot.pb"]  # the temp file was removed
    cached = read_snapshot(path)
    assert cached is not None and cached.version == 1


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_writer_coalesces_a_burst_and_keeps_the_latest(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.pb"
    writer = SnapshotWriter(path, min_interval_s=60, clock=FakeClock())
    writer.submit(1, "s", [bare_tool("a", "a.A")])
    await writer.flush()  # the first state is written at once
    assert writer.writes == 1
    for version in range(2, 12):  # within the interval: held back, replaced each time
        writer.submit(version, "s", [bare_tool(f"t{version}", f"t{version}.S")])
    assert writer.writes == 1
    await writer.close()  # close flushes the latest
    assert writer.writes == 2
    cached = read_snapshot(path)
    assert cached is not None and cached.version == 11
    assert [t.tool.name for t in cached.tools] == ["t11"]


async def test_writer_writes_again_once_the_interval_passed(tmp_path: Path) -> None:
    path = tmp_path / "snapshot.pb"
    clock = FakeClock()
    writer = SnapshotWriter(path, min_interval_s=0.2, clock=clock)
    writer.submit(1, "s", [])
    await writer.flush()
    clock.now += 1  # the interval has passed: the next state needs no waiting
    writer.submit(2, "s", [])
    await writer.flush()
    assert writer.writes == 2


async def test_writer_skips_the_state_already_on_disk(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / "snapshot.pb", clock=FakeClock())
    writer.mark_written("s", 7)
    writer.submit(7, "s", [])
    await writer.flush()
    assert writer.writes == 0
    assert not (tmp_path / "snapshot.pb").exists()


async def test_writer_logs_a_failed_write_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    path = blocker / "snapshot.pb"  # its parent is a file: every write fails
    writer = SnapshotWriter(path, clock=FakeClock())
    with caplog.at_level(logging.WARNING):
        writer.submit(1, "s", [])
        await writer.close()
    assert writer.writes == 0
    assert f"cannot write snapshot cache {path}" in caplog.text
