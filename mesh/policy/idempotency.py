"""Whether a method may be sent twice: the gate for retries and hedges.

`method_is_idempotent` resolves, first answer wins:

1. `override`: the policy's per-method `idempotent` (True or False), when set.
2. The method's protobuf option `idempotency_level`: NO_SIDE_EFFECTS or IDEMPOTENT → True.
3. The tool's annotations (registered with the tool, e.g. `--annotation idempotent=true`),
   most specific key first:
   - `idempotent.<pkg.Service>/<Method>` — one method by full name;
   - `idempotent.<Method>` — one method by short name (any of the tool's services);
   - `idempotent` — every method of the tool.
   A value is "true" or "false" (case and surrounding spaces ignored); a key with any other
   value is ignored, so a typo never makes a method retryable. A method-level "false" beats
   a tool-level "true".
4. Otherwise False: a method not known to be idempotent is only re-sent when the request
   provably never reached the tool (the retry layer decides that).

Resolve once per route (when the catalog or policy changes), not per call.
"""

from __future__ import annotations

from collections.abc import Mapping

from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import MethodDescriptor

ANNOTATION = "idempotent"

_IDEMPOTENT_LEVELS = frozenset(
    (descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS, descriptor_pb2.MethodOptions.IDEMPOTENT)
)
_TRUTH = {"true": True, "false": False}

LevelSource = MethodDescriptor | descriptor_pb2.MethodOptions | int | None


def idempotency_level(source: LevelSource) -> int:
    """The `idempotency_level` of a method descriptor or its options (0, unknown, for None)."""
    if source is None:
        return descriptor_pb2.MethodOptions.IDEMPOTENCY_UNKNOWN
    if isinstance(source, int):
        return source
    if isinstance(source, MethodDescriptor):
        options: descriptor_pb2.MethodOptions = source.GetOptions()
        return options.idempotency_level
    return source.idempotency_level


def method_is_idempotent(
    level: LevelSource,
    annotations: Mapping[str, str],
    override: bool | None,
    *,
    service: str,
    method: str,
) -> bool:
    """Whether `service`/`method` may be re-sent (see the module docstring for the order).

    `level` is the method's descriptor, its MethodOptions or the `idempotency_level` value;
    `service` is the fully qualified service name, `method` the short method name.
    """
    if override is not None:
        return override
    if idempotency_level(level) in _IDEMPOTENT_LEVELS:
        return True
    for key in (f"{ANNOTATION}.{service}/{method}", f"{ANNOTATION}.{method}", ANNOTATION):
        value = annotations.get(key)
        if value is not None:
            stated = _TRUTH.get(value.strip().lower())
            if stated is not None:
                return stated
    return False
