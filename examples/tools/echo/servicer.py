"""The `echo.v1.Echo` servicer and `start()`."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc

from examples.tools.echo.calls import CallLog
from examples.tools.echo.instance import InstanceFaults
from examples.tools.echo.steering import (
    Failure,
    Metadata,
    SteeringError,
    deadline_ms,
    echoed_metadata,
    filler,
    is_plain,
    planned_failure,
)
from examples.tools.gen.echo.v1 import echo_pb2, echo_pb2_grpc
from examples.tools.serving import DEFAULT_LISTEN, start_server

if TYPE_CHECKING:
    from examples.tools.echo.tracing import EchoTracing

EchoRequest = echo_pb2.EchoRequest
EchoResponse = echo_pb2.EchoResponse
Context = grpc.aio.ServicerContext[EchoRequest, EchoResponse]


class EchoServicer(echo_pb2_grpc.EchoServicer):
    """Answers as each request steers (see echo.proto), recording what it saw in `log`.

    `instance` labels every response; `seed` makes the failure-rate draws reproducible;
    `faults` makes this instance slow or flaky on every call of every method, before the
    request's own steering applies.
    """

    def __init__(
        self,
        *,
        instance: str = "",
        seed: int | None = None,
        faults: InstanceFaults | None = None,
    ) -> None:
        self.instance = instance
        self.log = CallLog()
        self._rng = random.Random(seed)
        # None unless the instance misbehaves: the plain path then pays one attribute test.
        self._faults = faults if faults is not None and faults.active else None

    async def Echo(self, request: EchoRequest, context: Context) -> EchoResponse:
        self.log.calls["Echo"] += 1
        return await self._unary("Echo", request, context)

    async def Write(self, request: EchoRequest, context: Context) -> EchoResponse:
        self.log.calls["Write"] += 1
        return await self._unary("Write", request, context)

    async def ServerStream(
        self, request: EchoRequest, context: Context
    ) -> AsyncIterator[EchoResponse]:
        method = "ServerStream"
        self.log.calls[method] += 1
        echoed = echoed_metadata(context.invocation_metadata())
        if self._faults is not None:
            await self._misbehave(method, context, echoed)
        failure = await self._plan(request, context, echoed)
        try:
            self._begin(request, context, echoed)
            if request.latency_ms:
                await asyncio.sleep(request.latency_ms / 1000)
            for sequence in range(request.count):
                if sequence and request.interval_ms:
                    await asyncio.sleep(request.interval_ms / 1000)
                if sequence == 0:
                    await _send_headers(request, context, echoed)
                yield self._response(request, context, sequence=sequence, received=1)
            await self._hang_or_fail(request, context, echoed, failure)
            if request.count == 0:
                await _send_headers(request, context, echoed)
        except asyncio.CancelledError:
            self.log.note_cancelled(method, request.call_id)
            raise

    async def ClientStream(
        self, request_iterator: AsyncIterator[EchoRequest], context: Context
    ) -> EchoResponse:
        method = "ClientStream"
        self.log.calls[method] += 1
        echoed = echoed_metadata(context.invocation_metadata())
        if self._faults is not None:
            await self._misbehave(method, context, echoed)
        first: EchoRequest | None = None
        payloads: list[bytes] = []
        try:
            async for request in request_iterator:
                if first is None:
                    first = request
                    # Started (and compression chosen) when the first message arrives, so a
                    # test can wait for it while the client still holds the stream open.
                    self._begin(request, context, echoed)
                payloads.append(request.payload)
            steering = first if first is not None else EchoRequest()
            failure = await self._plan(steering, context, echoed)
            if steering.latency_ms:
                await asyncio.sleep(steering.latency_ms / 1000)
            await self._hang_or_fail(steering, context, echoed, failure)
        except asyncio.CancelledError:
            self.log.note_cancelled(method, first.call_id if first is not None else "")
            raise
        await _send_headers(steering, context, echoed)
        response = self._response(steering, context, sequence=0, received=len(payloads))
        if not steering.response_size:
            response.payload = b"".join(payloads)
        return response

    async def Bidi(
        self, request_iterator: AsyncIterator[EchoRequest], context: Context
    ) -> AsyncIterator[EchoResponse]:
        method = "Bidi"
        self.log.calls[method] += 1
        echoed = echoed_metadata(context.invocation_metadata())
        if self._faults is not None:
            await self._misbehave(method, context, echoed)
        call_id = ""
        received = 0
        try:
            async for request in request_iterator:
                received += 1
                if received == 1:
                    call_id = request.call_id
                    self._begin(request, context, echoed)
                failure = await self._plan(request, context, echoed)
                if request.latency_ms:
                    await asyncio.sleep(request.latency_ms / 1000)
                if request.hang:
                    await _forever()
                if failure is not None:
                    await context.abort(failure.code, failure.message, echoed)
                if received == 1:
                    await _send_headers(request, context, echoed)
                yield self._response(request, context, sequence=received - 1, received=received)
            if received == 0:
                await _send_headers(EchoRequest(), context, echoed)
        except asyncio.CancelledError:
            self.log.note_cancelled(method, call_id)
            raise

    async def _unary(self, method: str, request: EchoRequest, context: Context) -> EchoResponse:
        echoed = echoed_metadata(context.invocation_metadata())
        if self._faults is not None:
            await self._misbehave(method, context, echoed)
        if not echoed and is_plain(request):
            # The benchmark's path: no steering, nothing to echo, no bookkeeping beyond the
            # call count.
            return EchoResponse(
                payload=request.payload,
                instance=self.instance,
                deadline_ms=deadline_ms(context.time_remaining()),
                received=1,
            )
        failure = await self._plan(request, context, echoed)
        try:
            self._begin(request, context, echoed)
            if request.latency_ms:
                await asyncio.sleep(request.latency_ms / 1000)
            await self._hang_or_fail(request, context, echoed, failure)
        except asyncio.CancelledError:
            self.log.note_cancelled(method, request.call_id)
            raise
        await _send_headers(request, context, echoed)
        return self._response(request, context, sequence=0, received=1)

    async def _misbehave(self, method: str, context: Context, echoed: Metadata) -> None:
        """Applies the instance's faults: waits its latency, then fails the call with
        UNAVAILABLE (trailers-only, echoed keys in the trailers) when the draw says so.

        The draw is made when the call arrives, so the sequence of outcomes depends only on
        the seed and the order of arrival, not on how the delays overlap.
        """
        faults = self._faults
        assert faults is not None  # callers test it first, to keep the plain path cheap
        failing = faults.fails(self._rng.random)
        if faults.latency_ms:
            try:
                await asyncio.sleep(faults.latency_ms / 1000)
            except asyncio.CancelledError:
                self.log.note_cancelled(method, "")
                raise
        if failing:
            self.log.note_failed(method)
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, faults.failure_message(self.instance), echoed
            )

    async def _plan(
        self, request: EchoRequest, context: Context, echoed: Metadata
    ) -> Failure | None:
        """The call's injected failure; aborts with INVALID_ARGUMENT for nonsense steering."""
        try:
            return planned_failure(request, self._rng.random)
        except SteeringError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error), echoed)

    def _begin(self, request: EchoRequest, context: Context, echoed: Metadata) -> None:
        """What a call does before anything else: record its start, fix compression, trailers."""
        if request.call_id:
            self.log.note_started(request.call_id)
        # Compression must be chosen before the initial metadata goes out.
        if request.compress_response:
            context.set_compression(grpc.Compression.Gzip)
        if echoed:
            context.set_trailing_metadata(echoed)

    @staticmethod
    async def _hang_or_fail(
        request: EchoRequest, context: Context, echoed: Metadata, failure: Failure | None
    ) -> None:
        """Hangs or fails the call as steered; returns when the call should go on normally.

        A failure before any response message goes out trailers-only (as from a server that
        fails before replying: clients may then retry it), so the echoed keys then travel in
        the trailers alone.
        """
        if request.hang:
            await _forever()
        if failure is not None:
            await context.abort(failure.code, failure.message, echoed)

    def _response(
        self, request: EchoRequest, context: Context, *, sequence: int, received: int
    ) -> EchoResponse:
        size = request.response_size
        return EchoResponse(
            payload=filler(size) if size else request.payload,
            instance=self.instance,
            deadline_ms=deadline_ms(context.time_remaining()),
            sequence=sequence,
            received=received,
            call_id=request.call_id,
        )


async def _send_headers(request: EchoRequest, context: Context, echoed: Metadata) -> None:
    """Sends the response's initial metadata (the echoed keys) when the call needs it sent.

    grpc.aio applies `set_compression` only to calls whose initial metadata the handler sends
    itself; a unary reply returned with implicit headers goes out uncompressed.
    """
    if echoed or request.compress_response:
        await context.send_initial_metadata(echoed)


async def _forever() -> None:
    """Waits until cancelled (by the client, the deadline or the server's shutdown)."""
    await asyncio.get_running_loop().create_future()


async def start(
    listen: str = DEFAULT_LISTEN,
    *,
    instance: str = "",
    seed: int | None = None,
    faults: InstanceFaults | None = None,
    servicer: EchoServicer | None = None,
    tracing: EchoTracing | None = None,
) -> tuple[grpc.aio.Server, str]:
    """Starts an echo server on `listen`; returns it and its bound address (`HOST:PORT`).

    Pass `servicer` to keep a handle on its `log` (then `instance`, `seed` and `faults` are
    unused), and `tracing` to record a span per call (see `examples.tools.echo.tracing`).
    """
    tool = (
        servicer
        if servicer is not None
        else EchoServicer(instance=instance, seed=seed, faults=faults)
    )

    # Wrapped only when tracing is on: the plain path stays as it is.
    served = tracing.wrap(tool) if tracing is not None else tool

    def register(server: grpc.aio.Server) -> None:
        # The generated registration function is untyped.
        echo_pb2_grpc.add_EchoServicer_to_server(served, server)  # type: ignore[no-untyped-call]

    server, address = await start_server("echo", register, listen)
    if tracing is not None:
        tracing.listening_on(address)
    return server, address
