"""Echo instances with faults: their command lines, and their call reports read over SIGUSR1."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest

from bench.echo_tool import echo_argv
from bench.instances import CallCounts, InstanceSpec, parse_report, start_instances
from bench.probe import wait_for_echo

REPO = Path(__file__).resolve().parents[2]


def test_a_report_line_is_parsed_and_other_lines_are_not() -> None:
    assert parse_report("echo calls: received=12 cancelled=3 failed=4\n") == CallCounts(12, 3, 4)
    assert parse_report("echo listening on 127.0.0.1:1") is None
    assert parse_report("echo calls: received=x cancelled=0 failed=0") is None


def test_counts_subtract_add_and_say_what_was_answered() -> None:
    run = CallCounts(110, 10, 25) - CallCounts(10, 0, 5)
    assert run == CallCounts(100, 10, 20)
    assert run.answered == 70
    assert run + CallCounts(1, 1, 0) == CallCounts(101, 11, 20)


def test_the_command_line_carries_label_seed_and_faults() -> None:
    argv = echo_argv(InstanceSpec("slow", latency_ms=50, fail_rate=0.25).options(seed=7))
    assert argv[1:5] == ["-m", "examples.tools.echo", "--listen", "127.0.0.1:0"]
    text = " ".join(argv)
    assert "--instance slow --seed 7 --report-calls" in text
    assert "--latency-ms 50" in text and "--fail-rate 0.25" in text
    plain = InstanceSpec("fast").options(seed=1)
    assert "--latency-ms" not in plain and "--fail-rate" not in plain


def test_descriptions_name_the_faults() -> None:
    assert InstanceSpec("fast").describe() == "fast"
    assert InstanceSpec("slow", latency_ms=50).describe() == "slow (+50 ms)"
    assert InstanceSpec("flaky", fail_rate=0.5).describe() == "flaky (50 % UNAVAILABLE)"


def _call(address: str) -> None:
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            "/echo.v1.Echo/Echo",
            request_serializer=lambda data: data,
            response_deserializer=lambda data: data,
        )
        try:
            call(b"", timeout=5)
        except grpc.RpcError as error:
            assert isinstance(error, grpc.Call)
            assert error.code() is grpc.StatusCode.UNAVAILABLE


def test_a_started_instance_reports_the_calls_it_saw(tmp_path: Path) -> None:
    with ExitStack() as stack:
        [instance] = start_instances(
            stack, tmp_path, REPO, (InstanceSpec("flaky", fail_rate=1.0),), seed=3
        )
        before = instance.counts()
        assert before == CallCounts()
        for _ in range(3):
            _call(instance.address)
        assert instance.counts() - before == CallCounts(received=3, cancelled=0, failed=3)
        process = instance.process
    assert process.popen.returncode is not None  # stopped by PID with the stack


def test_a_spec_without_a_label_is_refused(tmp_path: Path) -> None:
    with ExitStack() as stack, pytest.raises(RuntimeError, match="needs a label"):
        start_instances(stack, tmp_path, REPO, (InstanceSpec(""),), seed=1)


def test_a_healthy_instance_answers_the_probe(tmp_path: Path) -> None:
    with ExitStack() as stack:
        [instance] = start_instances(stack, tmp_path, REPO, (InstanceSpec("fast"),), seed=1)
        wait_for_echo(instance.address, 16, "fast", 10.0)
        assert instance.counts().received == 1
