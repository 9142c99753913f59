"""Single calls made with grpcio before load: is the target up and answering correctly?

A sidecar listens before its catalog holds the tools, so readiness is a successful call,
retried with a short interval until a deadline.
"""

from __future__ import annotations

import time

import grpc

from bench.echo_calls import ECHO_METHOD, payload
from examples.tools.gen.echo.v1 import echo_pb2

CALL_TIMEOUT_S = 2.0
RETRY_INTERVAL_S = 0.1


class ProbeError(RuntimeError):
    """The target never answered the probe call correctly; the message says what it got."""


def _identity(data: bytes) -> bytes:
    return data


def wait_for_call(
    address: str, method: str, request: bytes, check: str, deadline_s: float
) -> bytes:
    """Calls `method` on `address` (HOST:PORT) with the serialized `request` until it
    succeeds or `deadline_s` seconds pass; returns the serialized response.

    `check` names the target in the error. Raises ProbeError with the last failure.
    """
    deadline = time.monotonic() + deadline_s
    last = "no attempt"
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            method, request_serializer=_identity, response_deserializer=_identity
        )
        while True:
            try:
                response: bytes = call(request, timeout=CALL_TIMEOUT_S)
                return response
            except grpc.RpcError as error:
                code = error.code() if isinstance(error, grpc.Call) else None
                details = error.details() if isinstance(error, grpc.Call) else str(error)
                last = f"{code.name if code else 'error'}: {details}"
            if time.monotonic() + RETRY_INTERVAL_S > deadline:
                raise ProbeError(
                    f"{check}: {method} at {address} never succeeded within "
                    f"{deadline_s:.0f}s; last answer {last}"
                )
            time.sleep(RETRY_INTERVAL_S)  # nothing to await: the sidecar gives no readiness signal


def wait_for_echo(address: str, payload_bytes: int, check: str, deadline_s: float) -> None:
    """Waits until an Echo call through `address` returns the payload it was sent."""
    sent = payload(payload_bytes)
    request = echo_pb2.EchoRequest(payload=sent).SerializeToString()
    answer = echo_pb2.EchoResponse.FromString(
        wait_for_call(address, ECHO_METHOD, request, check, deadline_s)
    )
    if answer.payload != sent:
        raise ProbeError(
            f"{check}: Echo at {address} answered a {len(answer.payload)}-byte payload"
            f" to a {len(sent)}-byte request"
        )
