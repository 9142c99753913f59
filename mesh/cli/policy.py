"""`toolmesh policy set|get|check`: a tool's policy, written as YAML, into and out of the registry.

The file is validated by `mesh.config` before anything is sent (the registry checks again with
the same code, and also that a fallback tool exists), so a bad policy is reported with every
problem at once and the registry keeps the policy it had.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

import grpc

from mesh.addresses import Address
from mesh.api.v1 import policy_pb2, registry_pb2, registry_pb2_grpc
from mesh.cli import values
from mesh.cli.connection import bearer, call_unary, open_channel, refused
from mesh.cli.errors import UsageError
from mesh.cli.options import find, lookup
from mesh.cli.policy_yaml import load_policy_file
from mesh.config import ConfigError, policy_to_yaml


def set_policy(
    tool: str,
    policy: policy_pb2.ToolPolicy,
    registry: Address,
    *,
    token: str | None,
    timeout: timedelta,
) -> int:
    """Replaces `tool`'s policy; returns the registry version of the change.

    Raises Unreachable or Refused (e.g. INVALID_ARGUMENT listing every problem, NOT_FOUND).
    """
    with open_channel(registry) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        try:
            response: registry_pb2.SetPolicyResponse = call_unary(
                "registry",
                registry,
                channel,
                stub.SetPolicy,
                registry_pb2.SetPolicyRequest(tool=tool, policy=policy),
                timeout=timeout,
                metadata=bearer(token),
            )
        except grpc.RpcError as error:
            raise refused("registry", registry, error) from None
    return int(response.version)


def get_policy(tool: str, registry: Address, *, timeout: timedelta) -> policy_pb2.ToolPolicy | None:
    """`tool`'s stored policy; None when it has none (the defaults apply).

    Raises Unreachable or Refused (NOT_FOUND for an unknown tool).
    """
    with open_channel(registry) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)  # type: ignore[no-untyped-call]
        try:
            response: registry_pb2.GetToolResponse = call_unary(
                "registry",
                registry,
                channel,
                stub.GetTool,
                registry_pb2.GetToolRequest(name=tool),
                timeout=timeout,
            )
        except grpc.RpcError as error:
            raise refused("registry", registry, error) from None
    stored = response.state.tool
    if not stored.HasField("policy") or stored.policy.ByteSize() == 0:
        return None  # an empty policy and no policy mean the same: every default
    return stored.policy


def run_policy_set(args: argparse.Namespace) -> int:
    """`toolmesh policy set TOOL FILE.yaml`: prints one line once the registry stored it."""
    policy = _load(args.file, tool=args.tool)
    registry = values.address(lookup(args, find("policy set", "registry")))
    token = values.token(lookup(args, find("policy set", "token_file")))
    timeout = values.duration(lookup(args, find("policy set", "timeout")))
    version = set_policy(args.tool, policy, registry, token=token, timeout=timeout)
    print(f"policy of {args.tool} set at registry version {version}")
    return 0


def run_policy_get(args: argparse.Namespace) -> int:
    """`toolmesh policy get TOOL`: the policy as YAML that `policy set` reads back."""
    registry = values.address(lookup(args, find("policy get", "registry")))
    timeout = values.duration(lookup(args, find("policy get", "timeout")))
    policy = get_policy(args.tool, registry, timeout=timeout)
    if policy is None:
        # A YAML comment: the output stays a valid (empty) policy file.
        print(f"# {args.tool} has no policy: every default applies (see the README, Policies)")
    else:
        sys.stdout.write(policy_to_yaml(policy))
    return 0


def run_policy_check(args: argparse.Namespace) -> int:
    """`toolmesh policy check FILE.yaml`: `ok`, or every problem (one a line) and exit 2."""
    path = values.existing_file(args.file, "FILE.yaml")
    try:
        load_policy_file(path, tool=args.tool)
    except ConfigError as error:
        for problem in error.problems:
            print(problem)
        count = len(error.problems)
        raise UsageError(f"{count} problem{'' if count == 1 else 's'} in {path}") from None
    print("ok")
    return 0


def _load(text: str, *, tool: str) -> policy_pb2.ToolPolicy:
    try:
        return load_policy_file(values.existing_file(text, "FILE.yaml"), tool=tool)
    except ConfigError as error:
        raise UsageError(str(error)) from None
