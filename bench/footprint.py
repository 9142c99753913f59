"""The sidecar's resident memory: idle with one tool, after the load, with 100 tools.

The 99 extra tools are renamed copies of echo.proto (see descriptors.py) whose static
endpoint is an in-process catch-all gRPC server. A call to each of them through the
sidecar succeeds only once the sidecar has loaded that tool, so the measurement waits for
exactly that before reading VmRSS.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.descriptors import renamed_echo
from bench.mesh import register_tool
from bench.probe import wait_for_call

EXTRA_TOOLS = 99
LOAD_DEADLINE_S = 60.0  # for the sidecar to see every extra tool
EACH_DEADLINE_S = 5.0


@dataclass(frozen=True, slots=True)
class Footprint:
    """Sidecar VmRSS in bytes at three moments; None when not measured (`problem` says why)."""

    idle_bytes: int | None = None  # started, the echo tool loaded, before any load
    after_load_bytes: int | None = None  # after every benchmark round
    many_tools_bytes: int | None = None  # after the extra tools were loaded
    tools: int = 1  # tools registered at `many_tools_bytes`
    problem: str = ""


def extra_tool_package(index: int) -> str:
    """The protobuf package of extra tool `index` (1-based): `bench.t001.v1`, ..."""
    return f"bench.t{index:03d}.v1"


def load_extra_tools(
    registry_address: str, sidecar_address: str, endpoint: str, count: int = EXTRA_TOOLS
) -> None:
    """Registers `count` extra tools served at `endpoint` and returns once a call to every
    one of them through the sidecar succeeds. Raises ProbeError when one never does."""
    for index in range(1, count + 1):
        package = extra_tool_package(index)
        register_tool(
            registry_address,
            f"bench-tool-{index:03d}",
            renamed_echo(package),
            endpoint,
            description="A copy of the echo tool registered to measure the sidecar's memory.",
        )
    # Changes reach the sidecar in order, so the last tool arriving means the others have
    # arrived too; each is still called once, so the claim does not rest on that.
    last = f"/{extra_tool_package(count)}.Echo/Echo"
    wait_for_call(sidecar_address, last, b"", "sidecar with extra tools", LOAD_DEADLINE_S)
    for index in range(1, count):
        method = f"/{extra_tool_package(index)}.Echo/Echo"
        wait_for_call(sidecar_address, method, b"", "sidecar with extra tools", EACH_DEADLINE_S)
