"""Client calls from the CLI to a registry or sidecar, with their failures put in words.

A failed call becomes one of two errors: `Unreachable` when nothing answered at the address
(nothing listening, name not found, no connection within the deadline), `Refused` when the
server answered with an error status. The status code alone cannot tell them apart (both can
be UNAVAILABLE), so after a failure the channel is asked, briefly, whether it can connect.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import TypeVar

import grpc

from mesh.addresses import Address
from mesh.cli.durations import format_duration
from mesh.cli.errors import Refused, Unreachable

Response = TypeVar("Response")

# Sidecar listings carry a JSON Schema per method; allow well beyond grpcio's 4 MiB.
MAX_RECEIVE_BYTES = 64 * 1024 * 1024
# How long a failed call's channel gets to show that the server is there after all (seconds).
_REACHABILITY_PROBE_S = 0.5


@contextmanager
def open_channel(address: Address) -> Iterator[grpc.Channel]:
    """A plaintext channel to `address`, closed when the block ends."""
    channel = grpc.insecure_channel(
        address.grpc_target(),
        options=[("grpc.max_receive_message_length", MAX_RECEIVE_BYTES)],
    )
    try:
        yield channel
    finally:
        channel.close()


def bearer(token: str | None) -> list[tuple[str, str]]:
    """The metadata that authenticates a registry mutation; empty without a token."""
    return [("authorization", f"Bearer {token}")] if token else []


def call_unary(
    role: str,
    address: Address,
    channel: grpc.Channel,
    method: Callable[..., Response],
    request: object,
    *,
    timeout: timedelta,
    metadata: Sequence[tuple[str, str]] = (),
) -> Response:
    """Calls `method` (a unary stub method bound to `channel`) with a deadline.

    Raises Unreachable when nothing answers at `address`, and lets any other RpcError
    through for the caller, who knows what the status means for its command.
    """
    try:
        return method(request, timeout=timeout.total_seconds(), metadata=tuple(metadata))
    except grpc.RpcError as error:
        raise_if_unreachable(role, address, channel, error, timeout)
        raise


def raise_if_unreachable(
    role: str, address: Address, channel: grpc.Channel, error: grpc.RpcError, timeout: timedelta
) -> None:
    """Raises Unreachable when `error` came from not reaching `address` at all."""
    code = status_code(error)
    if code not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return
    if _connects(channel):
        return
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        reason = f"no connection within {format_duration(timeout)}"
    else:
        reason = _last_cause(status_details(error))
    raise Unreachable(role, str(address), reason)


def refused(role: str, address: Address, error: grpc.RpcError) -> Refused:
    """The error to raise when the server answered `error`."""
    return Refused(role, str(address), status_code(error).name, status_details(error))


def status_code(error: grpc.RpcError) -> grpc.StatusCode:
    """The status of a failed call (grpcio's RpcError raised by calls is also a grpc.Call)."""
    code = error.code() if isinstance(error, grpc.Call) else None
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.UNKNOWN


def status_details(error: grpc.RpcError) -> str:
    """The status message of a failed call, or a stand-in when the server sent none."""
    details = error.details() if isinstance(error, grpc.Call) else None
    return details or "(no message)"


def _connects(channel: grpc.Channel) -> bool:
    ready = grpc.channel_ready_future(channel)
    try:
        ready.result(timeout=_REACHABILITY_PROBE_S)
    except grpc.FutureTimeoutError:
        return False
    finally:
        ready.cancel()
    return True


def _last_cause(details: str) -> str:
    """The innermost cause of grpcio's connection message, e.g. `Connection refused` from
    `failed to connect to all addresses; last error: UNKNOWN: ipv4:...: ...: Connection refused`."""
    # Resolver errors wrap their cause in brackets: `[field:...: Domain name not found]`.
    cause = details.rsplit(": ", 1)[-1].strip().rstrip("]").strip()
    return cause or details
