"""Follows the registry's Watch stream and keeps the sidecar's catalog (and its cache file) current.

The registry pushes the full state, then every change; each message is applied to a map of
ToolState by name, a new immutable Catalog is built from the map and swapped into the holder,
and the state is persisted (coalesced) to the snapshot cache. When the stream breaks, the
watcher reconnects with capped, jittered exponential backoff and resumes from the last
version it applied; a changed `store_id` means the registry's versions restarted, so it drops
everything and takes the snapshot that follows.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable

import grpc

from mesh.addresses import parse_address
from mesh.api.v1 import registry_pb2, registry_pb2_grpc
from sidecar.backoff import Backoff, BackoffPolicy
from sidecar.cache import SnapshotWriter, read_snapshot
from sidecar.catalog import Catalog, CatalogHolder

logger = logging.getLogger(__name__)

# A snapshot carries every tool's descriptor set: allow far more than grpc's 4 MiB default.
DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024


class RegistryWatcher:
    """Keeps `holder` in step with the registry at `registry_address`.

    `start(wait_s)` returns once the first state arrived, or after `wait_s` seconds with the
    cache file's state (or nothing) in place; either way the watcher keeps (re)connecting in
    the background until `stop()`. Times are seconds; `clock` is monotonic.
    """

    def __init__(
        self,
        holder: CatalogHolder,
        registry_address: str,
        cache_path: str,
        token: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        backoff: BackoffPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        cache_min_interval_s: float = 0.2,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._holder = holder
        self._address = registry_address
        self._target = parse_address(registry_address).grpc_target()  # AddressError when bad
        self._cache_path = cache_path
        # Watch needs no token; it is sent when configured so a registry may require it.
        self._metadata: tuple[tuple[str, str], ...] = (
            (("authorization", f"Bearer {token}"),) if token else ()
        )
        self._clock = clock
        self._backoff = Backoff(backoff, rng)
        self._sleep = sleep
        self._max_message_bytes = max_message_bytes
        self._writer = SnapshotWriter(cache_path, min_interval_s=cache_min_interval_s, clock=clock)

        self._tools: dict[str, registry_pb2.ToolState] = {}
        self._store_id = ""
        self._awaiting_snapshot = False  # the store changed and its snapshot has not come yet
        self._first_state = asyncio.Event()
        self._last_error = ""
        # True while an outage has been reported; start() reports the first one itself.
        self._outage_reported = True
        self._task: asyncio.Task[None] | None = None
        self._live_stream: object | None = None  # identifies the Watch stream in progress

        self.connected = False  # a Watch stream to the registry is open
        self.version = 0  # the last registry version applied (or loaded from the cache)
        self.last_update_monotonic: float | None = None  # clock() when the catalog last changed

    @property
    def store_id(self) -> str:
        return self._store_id

    @property
    def cache_writes(self) -> int:
        """Cache files written so far."""
        return self._writer.writes

    async def start(self, wait_s: float) -> None:
        """Starts following the registry; waits up to `wait_s` seconds for its first state.

        When none arrives in time, serves the cache file's state (Catalog.from_cache=True),
        or no tools when there is no usable cache, and says so in one log line.
        """
        if self._task is not None:
            raise RuntimeError("RegistryWatcher.start() called twice")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="registry-watch")
        try:
            await asyncio.wait_for(self._first_state.wait(), wait_s)
        except TimeoutError:
            await self._fall_back_to_cache(wait_s)

    async def stop(self) -> None:
        """Stops watching and writes any pending cache update."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # wait() neither raises the task's CancelledError nor swallows our own.
            await asyncio.wait([task])
        self.connected = False
        await self._writer.close()

    async def _fall_back_to_cache(self, wait_s: float) -> None:
        reason = self._last_error or f"no answer within {wait_s:g}s"
        cached = await asyncio.to_thread(read_snapshot, self._cache_path)
        if self._first_state.is_set():
            return  # the registry answered while the file was being read: it wins
        if cached is None:
            logger.warning(
                "registry %s unreachable (%s); no usable snapshot cache at %s: "
                "starting with no tools, still trying the registry",
                self._address,
                reason,
                self._cache_path,
            )
            return
        self._tools = {state.tool.name: state for state in cached.tools}
        self._store_id = cached.store_id
        self.version = cached.version
        self._writer.mark_written(cached.store_id, cached.version)
        self._publish(from_cache=True)
        logger.warning(
            "registry %s unreachable (%s); serving %d tools from cache %s "
            "(version %d, written %s), still trying the registry",
            self._address,
            reason,
            len(self._tools),
            cached.path,
            cached.version,
            cached.written_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        )

    async def _run(self) -> None:
        while True:
            opened_at = self._clock()
            try:
                reason = await self._follow()
            except grpc.aio.AioRpcError as error:
                reason = f"{error.code().name}: {error.details()}"
            except Exception as error:
                # A bug applying one message must not end watching for good: log it whole,
                # reconnect, and let the snapshot or resumption repair the state.
                logger.exception("registry %s: watch failed", self._address)
                reason = f"{type(error).__name__}: {error}"
            self._on_disconnected(reason)
            if self._clock() - opened_at >= self._backoff.policy.max_s:
                self._backoff.reset()  # the stream was healthy for a while: start over
            await self._sleep(self._backoff.next_delay())

    async def _follow(self) -> str:
        """Runs one Watch stream to its end; returns why it ended (or raises AioRpcError)."""
        # A fresh channel with its own subchannel per attempt: grpc's shared subchannels keep
        # their own reconnect backoff (up to 120 s), which would override ours.
        options = [
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.max_receive_message_length", self._max_message_bytes),
        ]
        async with grpc.aio.insecure_channel(self._target, options=options) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
            since = self.version if self._store_id else 0
            request = registry_pb2.WatchRequest(since_version=since, store_id=self._store_id)
            call = stub.Watch(request, metadata=self._metadata)
            # The registry may send nothing while nothing changed since `since`, and grpc
            # sends no headers before the first message: the channel turning READY is the
            # first sign that the registry is reachable again.
            stream = object()
            self._live_stream = stream
            ready = asyncio.ensure_future(channel.channel_ready())
            ready.add_done_callback(lambda done: self._on_ready(done, stream, since))
            try:
                received = False
                async for response in call:
                    if not received:
                        received = True
                        self._on_connected(since)
                        self._backoff.reset()
                    self._apply(response)
            finally:
                self._live_stream = None
                ready.cancel()
            return "the registry ended the watch stream"

    def _on_ready(self, ready: asyncio.Future[None], stream: object, since: int) -> None:
        # Runs from the loop's callback queue: the stream may have ended in between.
        if stream is self._live_stream and not ready.cancelled() and ready.exception() is None:
            self._on_connected(since)

    def _on_connected(self, since: int) -> None:
        if self.connected:
            return
        self.connected = True
        self._outage_reported = False
        if since:
            logger.info("registry %s connected; resuming from version %d", self._address, since)
        else:
            logger.info("registry %s connected; waiting for its snapshot", self._address)
        if self._holder.catalog.from_cache and not self._awaiting_snapshot:
            # The registry answered: whatever it sends next applies on top of this state,
            # which is now the registry's as of `since` rather than a possibly stale file.
            self._holder.replace(dataclasses.replace(self._holder.catalog, from_cache=False))

    def _on_disconnected(self, reason: str) -> None:
        was_connected, self.connected = self.connected, False
        self._last_error = reason
        if was_connected:
            logger.warning(
                "registry %s: lost the watch stream (%s); reconnecting, serving %d tools "
                "at version %d meanwhile",
                self._address,
                reason,
                len(self._tools),
                self.version,
            )
        elif not self._outage_reported:
            # Once per outage at warning level; every further failed attempt is debug noise.
            logger.warning(
                "registry %s unreachable (%s); retrying with backoff", self._address, reason
            )
        else:
            logger.debug("registry %s still unreachable (%s)", self._address, reason)
        self._outage_reported = True

    def _apply(self, response: registry_pb2.WatchResponse) -> None:
        event = response.WhichOneof("event")
        if response.store_id != self._store_id:
            if self._store_id:
                logger.warning(
                    "registry %s: store changed (%s -> %s); dropping %d tools at version %d",
                    self._address,
                    self._store_id,
                    response.store_id,
                    len(self._tools),
                    self.version,
                )
            self._tools = {}
            self._store_id = response.store_id
            self.version = 0
            self._awaiting_snapshot = event != "snapshot"
        elif event != "snapshot" and response.version <= self.version:
            logger.debug(
                "registry %s: skipping version %d (already at %d)",
                self._address,
                response.version,
                self.version,
            )
            return
        if event == "snapshot":
            self._tools = {state.tool.name: state for state in response.snapshot.tools}
            self._awaiting_snapshot = False
        elif event == "upserted":
            self._tools[response.upserted.tool.name] = response.upserted
        elif event == "removed":
            self._tools.pop(response.removed, None)
        self.version = response.version
        if self._awaiting_snapshot:
            # Publishing a delta against an emptied map would drop every route until the
            # snapshot arrives; keep serving the previous catalog instead.
            return
        self._publish(from_cache=False)
        self._first_state.set()

    def _publish(self, *, from_cache: bool) -> None:
        catalog = Catalog.build(
            self._tools.values(),
            version=self.version,
            store_id=self._store_id,
            from_cache=from_cache,
            reuse=self._holder.catalog,
        )
        self._holder.replace(catalog)
        self.last_update_monotonic = self._clock()
        if not from_cache:
            self._writer.submit(self.version, self._store_id, catalog.states())
