"""Ranking functions and modules in py-spy's collapsed stacks."""

from __future__ import annotations

import pytest

from bench.profile import ProfileError, frame_key, summarize

STACKS = """\
main (sidecar/app.py:10);Relay.start_call (sidecar/relay/relay.py:140);encode (hpack/hpack.py:5) 6
main (sidecar/app.py:10);Relay.start_call (sidecar/relay/relay.py:150) 2
main (sidecar/app.py:10);0x7f00aa (libc.so.6) 2
"""


def test_frames_name_function_and_module() -> None:
    assert frame_key("Relay.start_call (sidecar/relay/relay.py:140)") == (
        "Relay.start_call (sidecar/relay/relay.py)",
        "sidecar/relay/relay.py",
    )
    assert frame_key("0x7f00aa (libc.so.6)") == ("[native] libc.so.6", "libc.so.6")


def test_self_and_total_shares() -> None:
    summary = summarize(STACKS)
    assert summary.samples == 10
    by_name = {r.name: r for r in summary.functions}
    encode = by_name["encode (hpack/hpack.py)"]
    assert (encode.self_pct, encode.total_pct) == (60.0, 60.0)
    start_call = by_name["Relay.start_call (sidecar/relay/relay.py)"]
    # Two lines of one function merge; its total counts each stack once.
    assert (start_call.self_pct, start_call.total_pct) == (20.0, 80.0)
    assert summary.functions[0].name == "encode (hpack/hpack.py)"
    assert summary.modules[0].name == "hpack/hpack.py"


def test_an_empty_profile_is_an_error() -> None:
    with pytest.raises(ProfileError):
        summarize("")


def test_areas_group_leaf_frames() -> None:
    summary = summarize(STACKS)
    shares = {r.name: r.self_pct for r in summary.areas}
    assert shares["hpack library"] == 60.0
    assert shares["sidecar Python code (sidecar/)"] == 20.0
    assert shares["other libc (allocation, other system calls, unresolved)"] == 20.0


def test_samples_waiting_in_the_event_loop_are_left_out() -> None:
    waiting = "main (sidecar/app.py:10);uv__io_poll (linux.c:1452);epoll_pwait (libc.so.6) 90\n"
    summary = summarize(STACKS + waiting)
    assert (summary.samples, summary.waiting_samples) == (10, 90)


def test_idle_worker_threads_blocked_on_a_lock_are_left_out() -> None:
    blocked = (
        "_worker (concurrent/futures/thread.py:81);PyThread_acquire_lock_timed (libpython3.so)"
        ";0x7fb6 (libc.so.6);0x7fb7 (libc.so.6) 40\n"
    )
    summary = summarize(STACKS + blocked)
    assert (summary.samples, summary.waiting_samples) == (10, 40)
