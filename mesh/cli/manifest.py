"""A tool manifest: everything `toolmesh register` needs, in one YAML file.

    name: echo                      # required (here or with --name)
    version: 1.0.0                  # optional
    description: Echoes messages.   # optional
    annotations: {idempotent: "true"}
    protos: [proto/echo/v1/echo.proto]    # relative to the manifest's directory
    include_dirs: [proto]                 # relative to the manifest's directory
    endpoints: ["127.0.0.1:50051"]
    policy: {timeout: 2s}                 # the policy's YAML form (see mesh.config)
    cost: {amount: 0.002, unit: USD}      # optional: what one call costs (metrics sum it)

Unknown keys are refused, naming the key, so a misspelt field never goes unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from mesh.api.v1 import policy_pb2
from mesh.config import ConfigError, policy_from_mapping

KEYS = (
    "name",
    "version",
    "description",
    "annotations",
    "protos",
    "include_dirs",
    "endpoints",
    "policy",
    "cost",
)


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names the file, the key and the problem."""


@dataclass(frozen=True)
class Manifest:
    """A parsed manifest; paths are resolved against the manifest's directory."""

    path: Path
    name: str | None = None
    version: str | None = None
    description: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    protos: tuple[Path, ...] = ()
    include_dirs: tuple[Path, ...] = ()
    endpoints: tuple[str, ...] = ()
    policy: policy_pb2.ToolPolicy | None = None
    cost: tuple[float, str] | None = None  # (amount per call, unit)


def load_manifest(path: Path) -> Manifest:
    """Reads and validates the manifest at `path`; raises ManifestError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ManifestError(f"cannot read manifest {str(path)!r}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ManifestError(f"{path}: not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(data, Mapping):
        raise ManifestError(
            f"{path}: a manifest must be a YAML mapping with keys {', '.join(KEYS)}"
        )
    unknown = [str(key) for key in data if key not in KEYS]
    if unknown:
        raise ManifestError(
            f"{path}: unknown key {', '.join(repr(k) for k in unknown)} (known: {', '.join(KEYS)})"
        )
    base = path.parent
    policy = None
    if data.get("policy") is not None:
        try:
            policy = policy_from_mapping(data["policy"], where=str(path), field="policy")
        except ConfigError as error:
            raise ManifestError(str(error)) from None
    return Manifest(
        path=path,
        name=_text(data, "name", path),
        version=_text(data, "version", path),
        description=_text(data, "description", path),
        annotations=_annotations(data.get("annotations"), path),
        protos=tuple(base / item for item in _strings(data, "protos", path)),
        include_dirs=tuple(base / item for item in _strings(data, "include_dirs", path)),
        endpoints=_strings(data, "endpoints", path),
        policy=policy,
        cost=_cost(data.get("cost"), path),
    )


def _cost(value: object, path: Path) -> tuple[float, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or set(value) != {"amount", "unit"}:
        raise ManifestError(
            f"{path}: cost must be a mapping {{amount: NUMBER, unit: TEXT}}, got {value!r}"
        )
    amount, unit = value["amount"], value["unit"]
    if isinstance(amount, bool) or not isinstance(amount, int | float) or not isinstance(unit, str):
        raise ManifestError(
            f"{path}: cost.amount must be a number and cost.unit text, got {value!r}"
        )
    return float(amount), unit


def _text(data: Mapping[object, object], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ManifestError(f"{path}: {key} must be text, got {value!r}")
    return str(value)


def _strings(data: Mapping[object, object], key: str, path: Path) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]  # a single item may be written without a list
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ManifestError(f"{path}: {key} must be a list of non-empty strings, got {value!r}")
    return tuple(value)


def _annotations(value: object, path: Path) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ManifestError(f"{path}: annotations must be a mapping of key: value, got {value!r}")
    annotations: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, Mapping | list) or item is None:
            raise ManifestError(f"{path}: annotations.{key} must be a single value, got {item!r}")
        # YAML reads `true` as a boolean; annotations are text, and `true` is what was meant.
        annotations[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
    return annotations
