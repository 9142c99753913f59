"""`toolmesh register` and `toolmesh deregister`: a tool's definition into (or out of) the registry.

`register_tool` is the one path from a `ToolSpec` to an acknowledged registration; the CLI
command and the demo both use it.

The registry accepts a change that leaves other policies stale (a fallback tool registered with
other method shapes, or deregistered) and says so in its response's `warnings`: both commands
print each on stderr as `toolmesh VERB: warning: ...`, after the line saying what was done, and
still exit 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import grpc

from mesh.addresses import Address, AddressError, parse_address
from mesh.api.v1 import policy_pb2, registry_pb2, registry_pb2_grpc
from mesh.cli import values
from mesh.cli.compile import CompileError, compile_protos
from mesh.cli.connection import bearer, call_unary, open_channel, refused
from mesh.cli.errors import UsageError
from mesh.cli.manifest import Manifest, ManifestError, load_manifest
from mesh.cli.options import find, lookup
from mesh.cli.policy_yaml import load_policy_file
from mesh.config import ConfigError
from mesh.descriptors import services_in


@dataclass(frozen=True)
class ToolSpec:
    """A tool to register, validated except for what only protoc and the registry can check."""

    name: str
    protos: tuple[Path, ...]
    include_dirs: tuple[Path, ...] = ()
    endpoints: tuple[Address, ...] = ()
    version: str = ""
    description: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)
    policy: policy_pb2.ToolPolicy | None = None  # None: keep the policy the registry has
    cost: tuple[float, str] | None = None  # (amount per call, unit); None: no cost


@dataclass(frozen=True)
class Registered:
    """What the registry acknowledged."""

    name: str
    services: tuple[str, ...]
    endpoint_count: int
    registry_version: int
    created: bool
    warnings: tuple[str, ...] = ()  # stale policies elsewhere, one line each (not refusals)

    def summary(self) -> str:
        """One line for people: `registered echo (services echo.v1.Echo; 2 endpoints) at ...`."""
        plural = "" if self.endpoint_count == 1 else "s"
        return (
            f"registered {self.name} (services {', '.join(self.services)}; "
            f"{self.endpoint_count} endpoint{plural}) at registry version {self.registry_version}"
        )


def build_request(spec: ToolSpec) -> registry_pb2.RegisterToolRequest:
    """Compiles the spec's protos into the RegisterTool request; raises UsageError."""
    try:
        compiled = compile_protos(spec.protos, spec.include_dirs)
    except CompileError as error:
        raise UsageError("\n  ".join(str(error).splitlines())) from None
    services = services_in(compiled.input_files())
    if not services:
        files = ", ".join(str(p) for p in spec.protos)
        raise UsageError(f"no service is defined in {files}; a tool needs at least one")
    tool = registry_pb2.Tool(
        name=spec.name,
        version=spec.version,
        description=spec.description,
        annotations=dict(spec.annotations),
        descriptors=compiled.descriptors,
        services=services,
        endpoints=[registry_pb2.Endpoint(address=str(a)) for a in spec.endpoints],
    )
    if spec.policy is not None:
        tool.policy.CopyFrom(spec.policy)
    if spec.cost is not None:
        tool.cost.amount, tool.cost.unit = spec.cost
    return registry_pb2.RegisterToolRequest(tool=tool)


def register_tool(
    spec: ToolSpec, registry: Address, *, token: str | None, timeout: timedelta
) -> Registered:
    """Registers `spec`; returns once the registry acknowledged it.

    Raises UsageError (the protos do not compile), Unreachable or Refused.
    """
    request = build_request(spec)
    with open_channel(registry) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        try:
            response = call_unary(
                "registry",
                registry,
                channel,
                stub.RegisterTool,
                request,
                timeout=timeout,
                metadata=bearer(token),
            )
        except grpc.RpcError as error:
            raise refused("registry", registry, error) from None
    state = response.state
    return Registered(
        name=state.tool.name,
        services=tuple(state.tool.services) or tuple(request.tool.services),
        endpoint_count=len(state.tool.endpoints) + len(state.instances),
        registry_version=response.version,
        created=response.created,
        warnings=tuple(response.warnings),
    )


@dataclass(frozen=True)
class Deregistered:
    """What the registry acknowledged of a deregistration."""

    name: str
    registry_version: int
    warnings: tuple[str, ...] = ()  # stale policies elsewhere, one line each (not refusals)

    def summary(self) -> str:
        """One line for people: `deregistered echo at registry version 7`."""
        return f"deregistered {self.name} at registry version {self.registry_version}"


def deregister_tool(
    name: str, registry: Address, *, token: str | None, timeout: timedelta
) -> Deregistered:
    """Removes the tool `name`; returns once the registry acknowledged it.

    Raises Unreachable or Refused (NOT_FOUND for an unknown tool).
    """
    with open_channel(registry) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        try:
            response = call_unary(
                "registry",
                registry,
                channel,
                stub.DeregisterTool,
                registry_pb2.DeregisterToolRequest(name=name),
                timeout=timeout,
                metadata=bearer(token),
            )
        except grpc.RpcError as error:
            raise refused("registry", registry, error) from None
    return Deregistered(
        name=name, registry_version=int(response.version), warnings=tuple(response.warnings)
    )


def spec_from_args(args: argparse.Namespace) -> ToolSpec:
    """Merges the manifest (when given) with the flags; flags win. Raises UsageError.

    Lists given as flags (`--proto`, `--endpoint`, `-I`) replace the manifest's; each
    `--annotation K=V` sets its key over the manifest's; `--policy` replaces its policy.
    """
    manifest = _manifest(args)
    name = args.name if args.name is not None else manifest.name
    if not name:
        raise UsageError("--name is required (or a manifest with a name, -f TOOL.yaml)")
    if args.protos:
        protos = tuple(values.existing_file(p, "--proto") for p in args.protos)
    else:
        protos = tuple(
            values.existing_file(str(p), f"{manifest.path}: protos") for p in manifest.protos
        )
    if not protos:
        raise UsageError("--proto is required (or a manifest listing protos, -f TOOL.yaml)")
    if args.include_dirs:
        include_dirs = tuple(values.existing_dir(d, "-I") for d in args.include_dirs)
    else:
        include_dirs = tuple(
            values.existing_dir(str(d), f"{manifest.path}: include_dirs")
            for d in manifest.include_dirs
        )
    endpoints = (
        _endpoints(args.endpoints, "--endpoint")
        if args.endpoints
        else _endpoints(manifest.endpoints, f"{manifest.path}: endpoints")
    )
    annotations = dict(manifest.annotations)
    annotations.update(_annotation_flags(args.annotations))
    policy = manifest.policy
    if args.policy is not None:
        try:
            policy = load_policy_file(values.existing_file(args.policy, "--policy"), tool=name)
        except ConfigError as error:
            raise UsageError(str(error)) from None
    return ToolSpec(
        name=name,
        protos=protos,
        include_dirs=include_dirs,
        endpoints=endpoints,
        version=args.version if args.version is not None else manifest.version or "",
        description=args.description
        if args.description is not None
        else manifest.description or "",
        annotations=annotations,
        policy=policy,
        cost=manifest.cost,
    )


def run_register(args: argparse.Namespace) -> int:
    """`toolmesh register`: prints one line once the registry acknowledged the tool, and each
    of the registry's warnings on stderr."""
    spec = spec_from_args(args)
    registry = values.address(lookup(args, find("register", "registry")))
    token = values.token(lookup(args, find("register", "token_file")))
    timeout = values.duration(lookup(args, find("register", "timeout")))
    registered = register_tool(spec, registry, token=token, timeout=timeout)
    print(registered.summary())
    _print_warnings("toolmesh register", registered.warnings)
    return 0


def run_deregister(args: argparse.Namespace) -> int:
    """`toolmesh deregister NAME`: prints one line once the registry removed the tool, and each
    of the registry's warnings on stderr."""
    registry = values.address(lookup(args, find("deregister", "registry")))
    token = values.token(lookup(args, find("deregister", "token_file")))
    timeout = values.duration(lookup(args, find("deregister", "timeout")))
    deregistered = deregister_tool(args.name, registry, token=token, timeout=timeout)
    print(deregistered.summary())
    _print_warnings("toolmesh deregister", deregistered.warnings)
    return 0


def _print_warnings(command: str, warnings: Iterable[str]) -> None:
    """Each warning as one stderr line, `COMMAND: warning: ...`, like `main` prints errors.

    stdout is flushed first so that, on a terminal, the summary line comes before them. Any
    line break in a warning (the registry sends one line each) is folded, so that a script
    reading stderr line by line sees one warning a line.
    """
    sys.stdout.flush()
    for warning in warnings:
        print(f"{command}: warning: {' '.join(warning.split())}", file=sys.stderr)


def _manifest(args: argparse.Namespace) -> Manifest:
    if args.manifest is None:
        return Manifest(path=Path("."))
    path = values.existing_file(args.manifest, "-f")
    try:
        return load_manifest(path)
    except ManifestError as error:
        raise UsageError(str(error)) from None


def _endpoints(texts: tuple[str, ...] | list[str], source: str) -> tuple[Address, ...]:
    endpoints: list[Address] = []
    for text in texts:
        try:
            endpoints.append(parse_address(text))
        except AddressError as error:
            raise UsageError(f"{source}: {error}") from None
    return tuple(endpoints)


def _annotation_flags(items: list[str]) -> dict[str, str]:
    annotations: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--annotation: {item!r} is not KEY=VALUE")
        annotations[key.strip()] = value
    return annotations
