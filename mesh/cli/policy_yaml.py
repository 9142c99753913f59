"""A policy file on disk: read here, parsed and validated by `mesh.config` (the full schema,
documented in the README's "Policies" section)."""

from __future__ import annotations

from pathlib import Path

from mesh.api.v1 import policy_pb2
from mesh.cli.errors import UsageError
from mesh.config import load_policy_yaml


def read_policy_text(path: Path) -> str:
    """The file's text; raises UsageError naming the file when it cannot be read."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read policy file {str(path)!r}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"policy file {str(path)!r} is not UTF-8 text") from None


def load_policy_file(path: Path, *, tool: str | None = None) -> policy_pb2.ToolPolicy:
    """The validated policy in the file at `path`.

    Raises UsageError (unreadable file) or `mesh.config.ConfigError` listing every problem,
    each prefixed by the file's name. `tool` (the policy's tool) refuses a fallback to itself.
    """
    return load_policy_yaml(read_policy_text(path), where=str(path), tool=tool)
