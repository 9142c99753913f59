"""Starting the targets in front of the echo tool: the sidecar (with its registry) and nginx.

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
from bench.mesh import register_tool, registry, sidecar
from bench.nginx import nginx
from bench.probe import ProbeError, wait_for_echo
from bench.processes import RunningProcess, StartError
from bench.rounds import Target

READY_DEADLINE_S = 30.0  # for a call through a freshly started proxy to succeed
PROBE_PAYLOAD_BYTES = 256

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Mesh:
    """The sidecar target and, when they started, the processes behind it."""

    target: Target
    registry: RunningProcess | None = None
    sidecar: RunningProcess | None = None


def one_line(text: str) -> str:
    return " ".join(text.split())


def start_sidecar(
    stack: ExitStack,
    work: Path,
    repo: Path,
    echo_address: str,
    upstream_connections: int | None,
    progress: Progress,
) -> Mesh:
    """A registry, the echo tool registered in it, and a sidecar watching it; ready once an
    Echo call through the sidecar returns its payload."""
    registry_process = None
    try:
        registry_process = stack.enter_context(registry(work, repo))
        register_tool(
            registry_process.address,
            "echo",
            echo_file_set(),
            echo_address,
            description="The steerable echo tool.",
        )
        sidecar_process = stack.enter_context(
            sidecar(registry_process.address, work, repo, upstream_connections)
        )
        wait_for_echo(sidecar_process.address, PROBE_PAYLOAD_BYTES, "sidecar", READY_DEADLINE_S)
    except (StartError, ProbeError) as error:
        return _unavailable(str(error), registry_process, progress)
    except grpc.RpcError as error:
        return _unavailable(f"RegisterTool failed: {error}", registry_process, progress)
    progress(
        f"sidecar on {sidecar_process.address} (pid {sidecar_process.pid}),"
        f" registry on {registry_process.address}"
    )
    target = Target("sidecar", sidecar_process.address, proxy_pid=sidecar_process.pid)
    return Mesh(target, registry_process, sidecar_process)


def _unavailable(reason: str, registry_process: RunningProcess | None, progress: Progress) -> Mesh:
    progress(f"sidecar unavailable: {reason}")
    return Mesh(Target("sidecar", None, unavailable=one_line(reason)), registry_process)


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
