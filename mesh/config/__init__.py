"""Policy configuration: the `toolmesh.v1` policy (protobuf or YAML) as validated, frozen values.

Parsed and validated here only; the registry validates writes and the sidecar loads policies
with the same code, and no policy layer ever reads a dict, YAML or protobuf.

- `policy_problems(pb, field, tool=...)`: every problem of a `ToolPolicy`, or none.
- `policy_from_proto(pb, tool=...)`: the resolved `ToolPolicyConfig`; raises `ConfigError`.
- `load_policy_yaml(text, where=...)` / `policy_from_mapping(data, where=...)`: YAML to a
  validated `ToolPolicy`; `policy_to_yaml(pb)` back.
- `mesh.config.durations`: `250ms`, `2s`, `1m30s` for policy files and flags alike.
"""

from mesh.config.errors import ConfigError
from mesh.config.resolve import policy_from_proto
from mesh.config.validation import policy_problems
from mesh.config.yaml_form import (
    load_policy_yaml,
    policy_from_mapping,
    policy_to_mapping,
    policy_to_yaml,
    proto_from_mapping,
)

__all__ = [
    "ConfigError",
    "load_policy_yaml",
    "policy_from_mapping",
    "policy_from_proto",
    "policy_problems",
    "policy_to_mapping",
    "policy_to_yaml",
    "proto_from_mapping",
]
