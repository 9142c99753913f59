"""A tool's policy as YAML, turned into `toolmesh.v1.ToolPolicy`.

Supported today (the full policy schema comes later, in `mesh/config`):

    timeout: 2s        # total budget of one call; a duration such as 250ms, 2s or 1m

Any other key is refused with a message naming it, so a policy that asks for something the
mesh would silently ignore never reaches the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from mesh.api.v1 import policy_pb2
from mesh.cli.durations import DurationError, parse_duration

SUPPORTED_KEYS = ("timeout",)


class PolicyError(ValueError):
    """A policy that cannot be used; the message names the file or key and the problem."""


def load_policy_file(path: Path) -> policy_pb2.ToolPolicy:
    """Reads and validates the policy file at `path`; raises PolicyError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise PolicyError(f"cannot read policy file {str(path)!r}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise PolicyError(f"{path}: not valid YAML: {_one_line(error)}") from None
    return policy_from_mapping({} if data is None else data, where=str(path))


def policy_from_mapping(data: object, *, where: str) -> policy_pb2.ToolPolicy:
    """Validates a policy mapping (parsed YAML); `where` prefixes every error message."""
    if not isinstance(data, Mapping):
        raise PolicyError(
            f"{where}: a policy must be a mapping (e.g. `timeout: 2s`), got {_kind(data)}"
        )
    unknown = [str(key) for key in data if key not in SUPPORTED_KEYS]
    if unknown:
        raise PolicyError(
            f"{where}: unknown policy key {', '.join(repr(k) for k in unknown)} "
            f"(supported: {', '.join(SUPPORTED_KEYS)})"
        )
    policy = policy_pb2.ToolPolicy()
    if "timeout" in data:
        raw = data["timeout"]
        if not isinstance(raw, str):
            raise PolicyError(
                f"{where}: timeout must be a duration with a unit such as 250ms or 2s, got {raw!r}"
            )
        try:
            policy.timeout.FromTimedelta(parse_duration(raw))
        except DurationError as error:
            raise PolicyError(f"{where}: timeout: {error}") from None
    return policy


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


def _one_line(error: yaml.YAMLError) -> str:
    return " ".join(str(error).split())
