"""Starting the targets in front of the echo tool: the sidecars (with their registry) and nginx.

A target that cannot start is returned as unavailable, with the reason, instead of ending
the benchmark: the other targets' figures still stand on their own. Processes are entered
into the caller's ExitStack, so they are stopped by PID however the benchmark ends.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc

from bench.descriptors import echo_file_set
from bench.echo_calls import ECHO_METHOD_NAME, ECHO_SERVICE
from bench.mesh import call_timeout_s, register_tool, registry, sidecar
from bench.nginx import nginx
from bench.probe import ProbeError, wait_for_echo
from bench.processes import RunningProcess, StartError
from bench.report import SIDECAR, SIDECAR_NO_POLICY
from bench.rounds import Target, file_slug

READY_DEADLINE_S = 30.0  # for a call through a freshly started proxy to succeed
PROBE_PAYLOAD_BYTES = 256

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Mesh:
    """One sidecar target and, when they started, the processes behind it."""

    target: Target
    registry: RunningProcess | None = None
    sidecar: RunningProcess | None = None


def one_line(text: str) -> str:
    return " ".join(text.split())


def start_sidecars(
    stack: ExitStack,
    work: Path,
    repo: Path,
    echo_address: str,
    upstream_connections: int | None,
    progress: Progress,
) -> tuple[Mesh, Mesh]:
    """A registry with the echo tool registered in it (no policy of its own: the defaults
    apply) and two sidecars watching it: `sidecar`, applying the policy, and `sidecar (no
    policy)`, the same relay forwarding without it. Each is ready once an Echo call through
    it returns its payload; one that cannot start is returned unavailable."""
    try:
        registry_process = stack.enter_context(registry(work, repo))
        register_tool(
            registry_process.address,
            "echo",
            echo_file_set(),
            echo_address,
            description="The steerable echo tool.",
        )
    except StartError as error:
        return _unavailable(SIDECAR, str(error), None, progress), _unavailable(
            SIDECAR_NO_POLICY, str(error), None, progress
        )
    except grpc.RpcError as error:
        reason = f"RegisterTool failed: {error}"
        return _unavailable(SIDECAR, reason, registry_process, progress), _unavailable(
            SIDECAR_NO_POLICY, reason, registry_process, progress
        )
    progress(f"registry on {registry_process.address}")
    timeout = call_timeout_s(None, ECHO_SERVICE, ECHO_METHOD_NAME)
    with_policy = _start_sidecar(
        stack, work, repo, registry_process, upstream_connections, SIDECAR, timeout, progress
    )
    without = _start_sidecar(
        stack, work, repo, registry_process, upstream_connections, SIDECAR_NO_POLICY, None, progress
    )
    return with_policy, without


def _start_sidecar(
    stack: ExitStack,
    work: Path,
    repo: Path,
    registry_process: RunningProcess,
    upstream_connections: int | None,
    name: str,
    tool_timeout_s: float | None,
    progress: Progress,
) -> Mesh:
    """One sidecar watching `registry_process`: with policies when `tool_timeout_s` (the
    policy's total timeout) is set, plain forwarding when it is None."""
    policies = tool_timeout_s is not None
    try:
        process = stack.enter_context(
            sidecar(
                registry_process.address,
                work,
                repo,
                upstream_connections,
                policies=policies,
                name=file_slug(name),
            )
        )
        wait_for_echo(process.address, PROBE_PAYLOAD_BYTES, name, READY_DEADLINE_S)
    except (StartError, ProbeError) as error:
        return _unavailable(name, str(error), registry_process, progress)
    progress(f"{name} on {process.address} (pid {process.pid})")
    target = Target(name, process.address, proxy_pid=process.pid, tool_timeout_s=tool_timeout_s)
    return Mesh(target, registry_process, process)


def _unavailable(
    name: str, reason: str, registry_process: RunningProcess | None, progress: Progress
) -> Mesh:
    progress(f"{name} unavailable: {reason}")
    return Mesh(Target(name, None, unavailable=one_line(reason)), registry_process)


def start_nginx(
    stack: ExitStack, work: Path, binary: str | None, echo_address: str, progress: Progress
) -> Target:
    """nginx proxying to the echo tool; ready once an Echo call through it returns its payload."""
    if binary is None:
        return Target("nginx", None, unavailable="nginx is not installed (Debian package nginx)")
    prefix = work / "nginx"
    prefix.mkdir()
    try:
        process = stack.enter_context(nginx(binary, echo_address, prefix))
        wait_for_echo(process.address, PROBE_PAYLOAD_BYTES, "nginx", READY_DEADLINE_S)
    except (StartError, ProbeError) as error:
        progress(f"nginx unavailable: {error}")
        return Target("nginx", None, unavailable=one_line(str(error)))
    progress(f"nginx on {process.address} (pid {process.pid})")
    return Target("nginx", process.address, proxy_pid=process.pid, reads_counted=False)
