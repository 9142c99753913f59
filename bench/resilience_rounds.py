"""Running the resilience scenarios: fixed-rate h2load rounds through each sidecar variant,
the variants interleaved, every run validated and the instances' call counts read around it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from bench import h2load, validation
from bench.echo_calls import ECHO_METHOD, request_body, response_bytes
from bench.instances import CallCounts, CountError, RunningInstance
from bench.procfs import ProcError, cpu_seconds
from bench.resilience_plan import ResilienceScenario, Variant
from bench.rounds import file_slug

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class VariantTarget:
    """A variant's sidecar: where load goes. `address` is None when it could not be started
    (`unavailable` says why). `tool_timeout_s` is the total timeout its policy gives a call
    (None without policies), which the tool sees as the call's deadline."""

    variant: Variant
    address: str | None
    sidecar_pid: int | None = None
    tool_timeout_s: float | None = None
    unavailable: str = ""


@dataclass(frozen=True, slots=True)
class ResilienceRound:
    """One h2load run through one variant. Figures are meaningful only when `valid`."""

    scenario: str  # the scenario's key
    variant: str
    index: int  # 0-based round number; -1 for the warm-up
    problems: tuple[str, ...]
    requests: int
    successes: int | None  # calls that returned their answer; None when the run is invalid
    durations_us: tuple[int, ...]  # per request, failed calls included
    sidecar_cpu_s: float | None
    instance_counts: tuple[tuple[str, CallCounts], ...]  # per instance label, this run only

    @property
    def valid(self) -> bool:
        return not self.problems


class ResilienceRunner:
    """Runs rounds of one scenario against its variants' sidecars."""

    def __init__(
        self,
        h2load_binary: str,
        work_dir: Path,
        scenario: ResilienceScenario,
        instances: Sequence[RunningInstance],
        progress: Progress,
    ) -> None:
        self.h2load_binary = h2load_binary
        self.work_dir = work_dir
        self.scenario = scenario
        self.instances = instances
        self.progress = progress
        self._body = work_dir / f"echo-request-{scenario.payload_bytes}.bin"
        self._body.write_bytes(request_body(scenario.payload_bytes))
        self._runs = 0

    def run_all(
        self, targets: Sequence[VariantTarget], rounds: int, warmup_requests: int
    ) -> list[ResilienceRound]:
        """A warm-up per variant, then `rounds` rounds with the variants taking turns."""
        live = [target for target in targets if target.address is not None]
        for target in live:
            warmup = self.run_round(target, -1, warmup_requests)
            status = "ok" if warmup.valid else "INVALID: " + "; ".join(warmup.problems)
            self.progress(f"{self.scenario.key}: warm-up {target.variant.name}: {status}")
        results: list[ResilienceRound] = []
        for index in range(rounds):
            for target in live:
                result = self.run_round(target, index)
                results.append(result)
                self.progress(_describe(self.scenario.key, result, rounds))
        return results

    def run_round(
        self, target: VariantTarget, index: int, requests: int | None = None
    ) -> ResilienceRound:
        """One bounded, validated h2load run through `target` (`requests` overrides the
        scenario's count, for the warm-up)."""
        assert target.address is not None
        load = self.scenario.load
        if requests is not None:
            load = replace(load, requests=requests)
        self._runs += 1
        log_file = self.work_dir / (
            f"h2load-{self.scenario.key}-{self._runs:03d}-{file_slug(target.variant.name)}.log"
        )
        argv = h2load.command(
            self.h2load_binary, f"http://{target.address}{ECHO_METHOD}", self._body, load, log_file
        )
        problems: list[str] = []
        counts_before = self._counts(problems)
        cpu_before = self._cpu(target, problems)
        outcome = h2load.run(argv, log_file, load.guard_s())
        cpu_after = self._cpu(target, problems)
        counts_after = self._counts(problems)
        log_file.unlink(missing_ok=True)
        answer_bytes = response_bytes(
            self.scenario.payload_bytes,
            tool_timeout_s=target.tool_timeout_s,
            instance=self.scenario.instances[0].label,  # all labels have one length
        )
        successes: int | None = None
        if outcome.problem is not None:
            problems.append(outcome.problem)
        elif self.scenario.failures_expected:
            successes, found = validation.successful_calls(
                outcome.summary, outcome.log, requests=load.requests, response_bytes=answer_bytes
            )
            problems += found
        else:
            found = validation.problems(
                outcome.summary, outcome.log, requests=load.requests, response_bytes=answer_bytes
            )
            problems += found
            successes = None if found else load.requests
        counts: tuple[tuple[str, CallCounts], ...] = ()
        if counts_before is not None and counts_after is not None:
            counts = tuple(
                (instance.spec.label, after - before)
                for instance, before, after in zip(
                    self.instances, counts_before, counts_after, strict=True
                )
            )
        return ResilienceRound(
            scenario=self.scenario.key,
            variant=target.variant.name,
            index=index,
            problems=tuple(problems),
            requests=load.requests,
            successes=successes if not problems else None,
            durations_us=tuple(entry.duration_us for entry in outcome.log),
            sidecar_cpu_s=(
                cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
            ),
            instance_counts=counts,
        )

    def _counts(self, problems: list[str]) -> list[CallCounts] | None:
        try:
            return [instance.counts() for instance in self.instances]
        except CountError as error:
            problems.append(str(error))
            return None

    @staticmethod
    def _cpu(target: VariantTarget, problems: list[str]) -> float | None:
        if target.sidecar_pid is None:
            return None
        try:
            return cpu_seconds(target.sidecar_pid)
        except ProcError as error:
            problems.append(f"sidecar gone: {error}")
            return None


def _describe(scenario: str, result: ResilienceRound, rounds: int) -> str:
    head = f"{scenario} round {result.index + 1}/{rounds} {result.variant:<24}"
    if not result.valid:
        return f"{head} INVALID: {'; '.join(result.problems)}"
    assert result.successes is not None
    share = result.successes / result.requests
    return f"{head} {result.successes}/{result.requests} succeeded ({share:.1%})"
