"""The sidecar's snapshot cache: the last registry state, on disk, for starting without a registry.

The file holds one serialized `toolmesh.v1.WatchResponse` with `version`, `store_id` and the
full `snapshot`, so `protoc --decode=toolmesh.v1.WatchResponse` can read it. Writes are atomic
(a temp file in the same directory, fsync, rename over the old file), so a crash leaves either
the old or the new file, never half of one. Reading never raises: a missing file is None; an
unreadable or corrupt one is None with a warning naming the file and the problem.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from google.protobuf.message import DecodeError

from mesh.api.v1 import registry_pb2

logger = logging.getLogger(__name__)

DEFAULT_MIN_INTERVAL_S = 0.2


@dataclass(frozen=True, slots=True)
class CachedSnapshot:
    """A snapshot read back from the cache file."""

    response: registry_pb2.WatchResponse  # version, store_id and the snapshot event
    path: Path
    written_at: datetime  # the file's modification time, UTC

    @property
    def version(self) -> int:
        return self.response.version

    @property
    def store_id(self) -> str:
        return self.response.store_id

    @property
    def tools(self) -> Sequence[registry_pb2.ToolState]:
        return self.response.snapshot.tools


def snapshot_message(
    version: int, store_id: str, states: Sequence[registry_pb2.ToolState]
) -> registry_pb2.WatchResponse:
    """The message the cache file holds for the given state."""
    return registry_pb2.WatchResponse(
        version=version, store_id=store_id, snapshot=registry_pb2.Snapshot(tools=states)
    )


def write_snapshot(path: str | Path, response: registry_pb2.WatchResponse) -> None:
    """Writes `response` to `path` atomically, creating parent directories. Raises OSError."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = response.SerializeToString()
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    _fsync_directory(target.parent)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


def read_snapshot(path: str | Path) -> CachedSnapshot | None:
    """The cached snapshot at `path`; None when missing, or (with a warning) unusable."""
    source = Path(path)
    try:
        data = source.read_bytes()
        written_at = datetime.fromtimestamp(source.stat().st_mtime, tz=UTC)
    except FileNotFoundError:
        return None
    except OSError as error:
        logger.warning("snapshot cache %s is unreadable (%s); ignoring it", source, error)
        return None
    problem = _problem_with(data)
    if problem is not None:
        logger.warning("snapshot cache %s is corrupt (%s); ignoring it", source, problem)
        return None
    response = registry_pb2.WatchResponse.FromString(data)
    return CachedSnapshot(response=response, path=source, written_at=written_at)


def _problem_with(data: bytes) -> str | None:
    if not data:
        return "the file is empty"
    try:
        response = registry_pb2.WatchResponse.FromString(data)
    except DecodeError as error:
        return f"not a toolmesh.v1.WatchResponse: {error}"
    # Random bytes can parse as a message made only of unknown fields; a file this sidecar
    # wrote always has the snapshot event and named tools.
    if response.WhichOneof("event") != "snapshot":
        return "it holds no snapshot"
    for index, state in enumerate(response.snapshot.tools):
        if not state.tool.name:
            return f"tool #{index} of the snapshot has no name"
    return None


@dataclass(frozen=True, slots=True)
class _Pending:
    version: int
    store_id: str
    states: tuple[registry_pb2.ToolState, ...]


class SnapshotWriter:
    """Persists the latest state, coalescing bursts: at most one write per `min_interval_s`.

    `submit()` never blocks: it records the state and makes sure a background task writes
    it (in a worker thread, since fsync can take a while). The file always ends up holding
    the last submitted state; `flush()` writes it at once; `close()` flushes and stops.
    Write failures are logged with the path and the error, and the next state is tried again.
    The submitted ToolState messages must not be mutated afterwards.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        min_interval_s: float = DEFAULT_MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._pending: _Pending | None = None
        self._written: tuple[str, int] | None = None  # (store_id, version) on disk
        self._last_write = float("-inf")
        self._urgent = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.writes = 0  # files written, for tests and metrics

    def mark_written(self, store_id: str, version: int) -> None:
        """Records that the file already holds this state (e.g. it was just read back)."""
        self._written = (store_id, version)

    def submit(self, version: int, store_id: str, states: Sequence[registry_pb2.ToolState]) -> None:
        """Schedules the state to be written; needs a running event loop."""
        if self._written == (store_id, version) and self._pending is None:
            return  # the file already holds exactly this state
        self._pending = _Pending(version, store_id, tuple(states))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._drain())

    async def flush(self) -> None:
        """Writes the pending state now (if any) and returns once it is on disk."""
        task = self._task
        if task is None or task.done():
            return
        self._urgent.set()
        await asyncio.shield(task)

    async def close(self) -> None:
        await self.flush()

    async def _drain(self) -> None:
        while self._pending is not None:
            wait = self._last_write + self._min_interval_s - self._clock()
            if wait > 0 and not self._urgent.is_set():
                # Coalesces a burst: whatever arrives meanwhile replaces `_pending`.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._urgent.wait(), wait)
            pending, self._pending = self._pending, None
            if pending is None:
                break
            message = snapshot_message(pending.version, pending.store_id, pending.states)
            try:
                await asyncio.to_thread(write_snapshot, self.path, message)
            except OSError as error:
                logger.warning("cannot write snapshot cache %s: %s", self.path, error)
            else:
                self._written = (pending.store_id, pending.version)
                self.writes += 1
            self._last_write = self._clock()
        self._urgent.clear()
