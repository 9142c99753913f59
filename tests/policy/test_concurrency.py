"""Concurrency limiter: acquire, queue (FIFO, handed over on release), reject, cancel."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mesh.config.policy import ConcurrencyConfig
from mesh.policy.concurrency import ACQUIRED, QUEUED, REJECTED, ConcurrencyLimiter


class Waiters:
    """Waiter callbacks that note the order they were started in."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def __call__(self, name: str) -> Callable[[], None]:
        def start() -> None:
            self.started.append(name)

        return start


def test_unlimited_is_a_no_op() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(max_in_flight=0))
    assert all(limiter.try_acquire() is ACQUIRED for _ in range(1000))
    assert limiter.in_flight == 0
    assert limiter.release() is False


def test_acquire_queue_reject_and_release_in_order() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(max_in_flight=2, max_queue=2))
    waiters = Waiters()
    assert limiter.try_acquire(waiters("a")) is ACQUIRED
    assert limiter.try_acquire(waiters("b")) is ACQUIRED
    assert limiter.try_acquire(waiters("c")) is QUEUED
    assert limiter.try_acquire(waiters("d")) is QUEUED
    assert limiter.try_acquire(waiters("e")) is REJECTED
    assert (limiter.in_flight, limiter.queued) == (2, 2)

    assert limiter.release() is True  # a's slot goes to c
    assert waiters.started == ["c"]
    assert limiter.try_acquire(waiters("f")) is QUEUED  # no overtaking d
    assert limiter.release() is True
    assert limiter.release() is True
    assert waiters.started == ["c", "d", "f"]
    assert (limiter.in_flight, limiter.queued) == (2, 0)

    assert limiter.release() is False
    assert limiter.release() is False
    assert limiter.in_flight == 0
    assert limiter.try_acquire() is ACQUIRED


def test_no_waiter_means_no_queueing() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(max_in_flight=1, max_queue=5))
    assert limiter.try_acquire() is ACQUIRED
    assert limiter.try_acquire() is REJECTED


def test_a_zero_queue_rejects_at_the_limit() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(max_in_flight=1, max_queue=0))
    waiters = Waiters()
    assert limiter.try_acquire(waiters("a")) is ACQUIRED
    assert limiter.try_acquire(waiters("b")) is REJECTED


def test_a_cancelled_waiter_leaves_the_queue() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(max_in_flight=1, max_queue=2))
    waiters = Waiters()
    limiter.try_acquire()
    b, c = waiters("b"), waiters("c")
    assert limiter.try_acquire(b) is QUEUED
    assert limiter.try_acquire(c) is QUEUED
    assert limiter.cancel(b) is True
    assert limiter.cancel(b) is False
    assert limiter.release() is True
    assert waiters.started == ["c"]
    assert limiter.cancel(c) is False  # it holds a slot now


def test_release_without_a_slot_is_a_bug() -> None:
    limiter = ConcurrencyLimiter(ConcurrencyConfig(max_in_flight=1))
    with pytest.raises(RuntimeError, match="without a slot held"):
        limiter.release()
