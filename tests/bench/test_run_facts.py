"""The facts printed beside the figures: the machine's, and the other load beside the run."""

from __future__ import annotations

from bench.background import Background
from bench.machine import Machine

MACHINE = Machine("2026-01-01 00:00 UTC", "2", "cpu", "Linux 6", "3.11", "1.6", "nginx/1", "h2")


def test_the_machine_facts_in_order_leaving_out_what_plays_no_part() -> None:
    every = MACHINE.facts()
    assert every.startswith("date: 2026-01-01 00:00 UTC, CPUs (nproc): 2, CPU model: cpu,")
    assert every.endswith("grpcio: 1.6, nginx: nginx/1, h2load: h2")
    assert MACHINE.facts(leave_out=("nginx",)).endswith("grpcio: 1.6, h2load: h2")


def test_the_background_sentence_gives_cores_and_seconds() -> None:
    assert Background(cores=0.126, wall_s=61.7).sentence() == (
        "Other load on the machine during the rounds: 0.13 cores on average over 62 s"
        " (CPU time not used by the benchmark's own processes)"
    )
