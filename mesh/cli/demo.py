"""`toolmesh demo`: a whole local mesh, called through, then stopped.

A registry (SQLite file in the demo directory), the five example tools and a sidecar run as
child processes on free loopback ports; the tools are registered from their manifests by the
same code as `toolmesh register`; once the sidecar lists them, the support pipeline runs
through the sidecar with typed stubs, and one call goes through the sidecar's JSON `Invoke`.
Every child is stopped by its PID at the end, whatever happened. `--serve` keeps the mesh up
until Ctrl-C and prints how to call it.

Any failure ends the demo with one line naming the step that failed (exit status 1).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from types import FrameType

import grpc

from mesh.addresses import Address, parse_address
from mesh.cli.call import invoke, pretty
from mesh.cli.connection import status_code, status_details
from mesh.cli.errors import CliError
from mesh.cli.options import find, lookup
from mesh.cli.processes import Child, ChildProcesses, ProcessFailed, child_environment
from mesh.cli.register import register_tool, spec_from_args
from mesh.cli.support_pipeline import PipelineStepFailed, run_support_pipeline
from mesh.cli.tools import list_tools, render_table

TOOLS = ("echo", "email_parser", "sentiment", "customer_lookup", "priority_router")
START_DEADLINE_S = 20.0  # per process; seven Python processes share the machine at start
LISTING_DEADLINE = timedelta(seconds=15)
CALL_TIMEOUT = timedelta(seconds=5)
POLL_INTERVAL_S = 0.05
LOOPBACK_ANY = "127.0.0.1:0"  # every process of the demo listens on a free loopback port
JSON_CALL = (
    "sentiment/Analyze",
    '{"text": "Thanks, the fix works great and I love the new checkout!"}',
)
# Both end the demo cleanly; children run in their own session and never see them.
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StepFailed(CliError):
    """A demo step that did not succeed; the message names the step and why."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"step '{step}' failed: {reason}")


@dataclass(frozen=True)
class Mesh:
    """The addresses of a running demo mesh."""

    directory: Path
    registry: Address
    sidecar: Address
    tools: dict[str, Address]
    manifests: Path  # the example tools' manifests


def run_demo(args: argparse.Namespace) -> int:
    """`toolmesh demo`: returns 0 once the calls succeeded (or serving ended) and all stopped."""
    examples_dir = _examples_package()
    chosen = lookup(args, find("demo", "dir")).text
    directory = (
        Path(chosen).expanduser() if chosen else Path(tempfile.mkdtemp(prefix="toolmesh-demo-"))
    )
    with _step("prepare the demo directory"):
        directory.mkdir(parents=True, exist_ok=True)
    failed = False
    previous = {signum: signal.signal(signum, _interrupt) for signum in _STOP_SIGNALS}
    processes = ChildProcesses(directory, child_environment(python_path=[examples_dir.parent]))
    try:
        with processes:
            mesh = _start(processes, directory, examples_dir)
            try:
                if args.serve:
                    _serve(mesh, processes)
                else:
                    _call_through(mesh)
            except KeyboardInterrupt:
                if not args.serve:
                    raise  # interrupted before the demo finished: exit status 130
            count = len(processes.children)
        print(f"stopped {count} processes")
    except CliError:
        failed = True
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        # A temporary directory goes away unless a step failed: then its logs tell why.
        if not failed and not chosen:
            shutil.rmtree(directory, ignore_errors=True)
    return 0


def _start(processes: ChildProcesses, directory: Path, examples_dir: Path) -> Mesh:
    python = sys.executable
    toolmesh = [python, "-m", "mesh.cli.main"]  # this very CLI, in the same interpreter
    print(f"toolmesh demo: a local mesh in {directory}", flush=True)
    # Registry and tools start together; the sidecar needs the registry's address first.
    with _step("start the registry"):
        registry_child = processes.spawn(
            "registry",
            [
                *toolmesh,
                "registry",
                "--listen",
                LOOPBACK_ANY,
                "--db",
                str(directory / "registry.db"),
            ],
            announces_as="toolmesh registry",
        )
    tool_children: dict[str, Child] = {}
    for name in TOOLS:
        with _step(f"start the {name} tool"):
            tool_children[name] = processes.spawn(
                name,
                [python, "-m", f"examples.tools.{name}", "--listen", LOOPBACK_ANY],
                announces_as=name,
            )
    with _step("start the registry"):
        registry = _announced(processes, registry_child)
    _started("registry", registry, registry_child.pid)
    with _step("start the sidecar"):
        sidecar_child = processes.spawn(
            "sidecar",
            [
                *toolmesh,
                "sidecar",
                "--listen",
                LOOPBACK_ANY,
                "--registry",
                str(registry),
                "--cache",
                str(directory / "sidecar-cache.pb"),
                "--grace-period",
                "1s",
            ],
            announces_as="toolmesh sidecar",
        )
    tools: dict[str, Address] = {}
    for name, child in tool_children.items():
        with _step(f"start the {name} tool"):
            tools[name] = _announced(processes, child)
        _started(name, tools[name], child.pid)
    for name, address in tools.items():
        with _step(f"register {name}"):
            print(
                "  " + _register(examples_dir / "manifests" / f"{name}.yaml", address, registry),
                flush=True,
            )
    with _step("start the sidecar"):
        sidecar = _announced(processes, sidecar_child)
    _started("sidecar", sidecar, sidecar_child.pid)
    with _step("wait for the sidecar to list the tools"):
        _wait_for_listing(sidecar)
    return Mesh(directory, registry, sidecar, tools, examples_dir / "manifests")


def _register(manifest: Path, endpoint: Address, registry: Address) -> str:
    # The same path as `toolmesh register -f MANIFEST --endpoint ADDRESS`: the real parser,
    # the manifest merge, the compile and the RegisterTool call. No token: the demo's
    # registry runs without one, whatever the user's environment says.
    from mesh.cli.main import build_parser

    args = build_parser().parse_args(["register", "-f", str(manifest), "--endpoint", str(endpoint)])
    spec = spec_from_args(args)
    return register_tool(spec, registry, token=None, timeout=CALL_TIMEOUT).summary()


def _wait_for_listing(sidecar: Address) -> None:
    """Polls the sidecar's ListTools until every tool is there with an endpoint: the sidecar
    is another process, learning of the registrations through its Watch stream, so there is
    nothing to await here but its answer."""
    started = time.monotonic()
    deadline = started + LISTING_DEADLINE.total_seconds()
    missing: list[str] = list(TOOLS)
    while True:
        try:
            listing = list_tools(sidecar, timeout=timedelta(seconds=1))
        except CliError as error:
            if time.monotonic() >= deadline:
                raise StepFailed("wait for the sidecar to list the tools", str(error)) from None
        else:
            ready = {tool.name for tool in listing.tools if tool.endpoint_count > 0}
            missing = [name for name in TOOLS if name not in ready]
            if not missing:
                elapsed = time.monotonic() - started
                print(f"  the sidecar lists {len(TOOLS)} tools after {elapsed:.2f}s:")
                print("    " + render_table(listing).replace("\n", "\n    "), flush=True)
                return
            if time.monotonic() >= deadline:
                raise StepFailed(
                    "wait for the sidecar to list the tools",
                    f"after {LISTING_DEADLINE.total_seconds():g}s it still lacks "
                    + ", ".join(missing),
                )
        time.sleep(POLL_INTERVAL_S)


def _call_through(mesh: Mesh) -> None:
    print(f"support pipeline through the sidecar {mesh.sidecar} (typed stubs, plain gRPC channel):")
    with _step("run the support pipeline"):
        for number, result in enumerate(
            run_support_pipeline(mesh.sidecar, timeout=CALL_TIMEOUT), 1
        ):
            print(f"  {number}. {result.tool:<16} {result.path:<36} {_ms(result.latency)}")
            print(f"     {result.answer}", flush=True)
    target, request = JSON_CALL
    print("JSON call through the sidecar's Invoke:")
    with _step(f"call {target} through Invoke"):
        answer = invoke(mesh.sidecar, target, request, timeout=CALL_TIMEOUT)
    print(f"  {target} {request}  ({_ms(answer.latency).strip()})")
    print("  " + pretty(answer.messages[-1]).replace("\n", "\n  "), flush=True)


def _serve(mesh: Mesh, processes: ChildProcesses) -> None:
    """Prints how to reach the mesh, then waits for Ctrl-C (KeyboardInterrupt) or a child's
    death (StepFailed)."""
    sidecar, registry = mesh.sidecar, mesh.registry
    target, request = JSON_CALL
    # The first line has the shape every process of the mesh announces itself with, so a
    # script can wait for it the same way.
    print(f"toolmesh demo listening on {sidecar}")
    print(
        f"the mesh is running (Ctrl-C stops it); logs and database in {mesh.directory}\n"
        f"  registry  {registry}\n  sidecar   {sidecar}\n"
        f"try:\n"
        f"  toolmesh tools --sidecar {sidecar}\n"
        f"  toolmesh call --sidecar {sidecar} {target} '{request}'\n"
        f"  grpcurl -plaintext -d '{request}' {sidecar} support.v1.Sentiment/Analyze\n"
        f"  toolmesh register --registry {registry} -f {mesh.manifests / 'echo.yaml'} "
        f"--endpoint HOST:PORT",
        flush=True,
    )
    while True:
        for child in processes.children:
            code = child.process.poll()
            if code is not None:
                raise StepFailed(
                    "serve", f"{child.name} exited with code {code}: {child.last_words()}"
                )
        time.sleep(0.5)


def _announced(processes: ChildProcesses, child: Child) -> Address:
    text = processes.wait_ready(child, deadline_s=START_DEADLINE_S)
    return parse_address(text)


def _started(name: str, address: Address, pid: int) -> None:
    print(f"  started {name:<16} {address!s:<22} pid {pid}", flush=True)


def _ms(value: timedelta) -> str:
    return f"{value.total_seconds() * 1000:7.1f} ms"


@contextmanager
def _step(name: str) -> Iterator[None]:
    """Turns any failure inside the block into StepFailed naming the step."""
    try:
        yield
    except StepFailed:
        raise
    except CliError as error:
        raise StepFailed(name, str(error)) from None
    except (ProcessFailed, PipelineStepFailed, OSError) as error:
        raise StepFailed(name, str(error)) from None
    except grpc.RpcError as error:
        raise StepFailed(name, f"{status_code(error).name}: {status_details(error)}") from None


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # SIGTERM ends the demo the way Ctrl-C does: every child stopped, nothing left behind.
    # Further signals are ignored, so a second Ctrl-C cannot cut the stopping short (which
    # is itself bounded: SIGKILL after the grace period).
    for stop_signal in _STOP_SIGNALS:
        signal.signal(stop_signal, signal.SIG_IGN)
    raise KeyboardInterrupt


def _examples_package() -> Path:
    """The directory of the `examples` package (tools, protos, manifests).

    An editable install made before `examples/` existed does not map it; the source tree
    beside `mesh/` is then used, for this process and (via PYTHONPATH) for the children.
    """
    try:
        import examples
    except ModuleNotFoundError:
        import mesh

        source_root = Path(mesh.__file__).resolve().parent.parent
        if not (source_root / "examples" / "__init__.py").is_file():
            raise StepFailed(
                "find the example tools",
                "the `examples` package is neither installed nor beside `mesh`",
            ) from None
        sys.path.insert(0, str(source_root))
        import examples
    return Path(examples.__file__).resolve().parent
