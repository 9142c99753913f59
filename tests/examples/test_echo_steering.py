"""The echo tool's steering rules, without a server."""

from __future__ import annotations

import grpc
import pytest

from examples.tools.echo.steering import (
    Failure,
    SteeringError,
    deadline_ms,
    echoed_metadata,
    filler,
    is_plain,
    planned_failure,
)
from examples.tools.gen.echo.v1.echo_pb2 import EchoRequest


def never_drawn() -> float:
    raise AssertionError("the failure draw must not happen without a failure rate")


def test_no_code_and_no_rate_never_fails() -> None:
    assert planned_failure(EchoRequest(payload=b"x"), never_drawn) is None


def test_a_code_without_rate_always_fails_with_it() -> None:
    failure = planned_failure(EchoRequest(status_code=5, status_message="gone"), never_drawn)
    assert failure == Failure(grpc.StatusCode.NOT_FOUND, "gone")


def test_a_rate_without_code_fails_with_unavailable_and_a_default_message() -> None:
    failure = planned_failure(EchoRequest(failure_rate=0.5), lambda: 0.49)
    assert failure is not None
    assert failure.code is grpc.StatusCode.UNAVAILABLE
    assert "UNAVAILABLE" in failure.message and "0.5" in failure.message


def test_a_draw_at_or_above_the_rate_succeeds() -> None:
    assert planned_failure(EchoRequest(failure_rate=0.5, status_code=14), lambda: 0.5) is None


def test_rate_one_fails_even_on_the_highest_draw() -> None:
    assert planned_failure(EchoRequest(failure_rate=1.0), lambda: 0.999999) is not None


@pytest.mark.parametrize("rate", [-0.1, 1.5, float("nan")])
def test_a_rate_outside_zero_one_is_refused(rate: float) -> None:
    with pytest.raises(SteeringError, match="failure_rate"):
        planned_failure(EchoRequest(failure_rate=rate), lambda: 0.0)


def test_an_unknown_status_code_is_refused_with_the_range() -> None:
    with pytest.raises(SteeringError, match=r"status_code .*0\.\.16 \(got 17\)"):
        planned_failure(EchoRequest(status_code=17), never_drawn)


def test_only_x_keys_are_echoed_in_order_binary_values_kept() -> None:
    metadata = (("user-agent", "grpc"), ("x-b", "1"), ("y-x", "2"), ("x-a-bin", b"\x00\xff"))
    assert echoed_metadata(metadata) == (("x-b", "1"), ("x-a-bin", b"\x00\xff"))
    assert echoed_metadata(None) == ()


def test_deadline_is_whole_milliseconds_or_minus_one() -> None:
    assert deadline_ms(None) == -1
    assert deadline_ms(1.2345) == 1234


def test_plain_means_payload_only() -> None:
    assert is_plain(EchoRequest(payload=b"abc"))
    assert not is_plain(EchoRequest(payload=b"abc", latency_ms=1))
    assert not is_plain(EchoRequest(call_id="c"))


def test_filler_has_the_requested_size() -> None:
    assert filler(3) == b"xxx"
    assert len(filler(100_000)) == 100_000
