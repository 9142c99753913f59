"""Which calls are traced: the `OTEL_TRACES_SAMPLER` samplers, decided without the SDK.

The decision is taken for every call the sidecar relays, so it is a few integer operations on
precomputed values rather than the SDK's sampler objects (which build a result object and an
attribute mapping per call). The rules are the SDK's own, so a trace sampled by an agent
using the OpenTelemetry SDK with the same ratio is sampled here too:

- `traceidratio`: sampled when the trace id's lower 64 bits are below `ratio * 2**64`
  (the SDK's TraceIdRatioBased rule: the same trace id gets the same answer everywhere);
- `parentbased_*`: with a parent from the agent's `traceparent`, its `sampled` flag decides;
  without one, the named root sampler does;
- `always_on` / `always_off`: every call, or none (parents ignored).

Default: `parentbased_traceidratio` with `OTEL_TRACES_SAMPLER_ARG` (default 1.0). The
recommended production setting is 1 %:
`OTEL_TRACES_SAMPLER=parentbased_traceidratio OTEL_TRACES_SAMPLER_ARG=0.01`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

SAMPLER_VARIABLE = "OTEL_TRACES_SAMPLER"
SAMPLER_ARG_VARIABLE = "OTEL_TRACES_SAMPLER_ARG"
DEFAULT_SAMPLER = "parentbased_traceidratio"
RATIO_SAMPLERS = frozenset({"traceidratio", "parentbased_traceidratio"})
SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
_LOW_64 = (1 << 64) - 1
_ALWAYS = 1 << 64  # a bound every 64-bit value is below


class SamplerConfigError(ValueError):
    """`OTEL_TRACES_SAMPLER` or its argument is invalid; the message names the variable."""


@dataclass(frozen=True, slots=True)
class Sampler:
    """A sampling rule. `name` is one of SAMPLERS; `ratio` in [0, 1] is the share of root
    traces sampled by the ratio samplers (1.0 for the others, unused by `always_*`)."""

    name: str = DEFAULT_SAMPLER
    ratio: float = 1.0

    def __post_init__(self) -> None:
        if self.name not in SAMPLERS:
            raise SamplerConfigError(_unknown(self.name))
        if math.isnan(self.ratio) or not 0.0 <= self.ratio <= 1.0:
            raise SamplerConfigError(
                f"{SAMPLER_ARG_VARIABLE} must be a number within [0, 1] (got {self.ratio})"
            )

    @property
    def parent_based(self) -> bool:
        """True when a parent's `sampled` flag decides for its children."""
        return self.name.startswith("parentbased_")

    @property
    def bound(self) -> int:
        """Traces whose trace id's lower 64 bits are below this are sampled (when no parent
        decides): 0 for never, 2**64 for always."""
        root = self.name.removeprefix("parentbased_")
        if root == "always_on":
            return _ALWAYS
        if root == "always_off":
            return 0
        return round(self.ratio * _ALWAYS)

    def sampled(self, trace_id: int, parent_sampled: bool | None) -> bool:
        """The decision for a trace: `parent_sampled` is the parent's flag, None for a root.

        The tracer inlines this rule on its hot path; this is its reference form (tests)."""
        if parent_sampled is not None and self.parent_based:
            return parent_sampled
        return (trace_id & _LOW_64) < self.bound


def sampler_from_environment(environ: Mapping[str, str]) -> Sampler:
    """The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` name.

    Names are matched case-insensitively. The argument is read only by the ratio samplers;
    raises SamplerConfigError, naming the variable, for an unknown sampler or a ratio that
    is not a number in [0, 1].
    """
    name = environ.get(SAMPLER_VARIABLE, "").strip().lower() or DEFAULT_SAMPLER
    if name not in SAMPLERS:
        raise SamplerConfigError(_unknown(name))
    ratio = 1.0
    argument = environ.get(SAMPLER_ARG_VARIABLE, "").strip()
    if name in RATIO_SAMPLERS and argument:
        try:
            ratio = float(argument)
        except ValueError:
            raise SamplerConfigError(
                f"{SAMPLER_ARG_VARIABLE} must be a number within [0, 1] (got {argument!r})"
            ) from None
    return Sampler(name, ratio)


def _unknown(name: str) -> str:
    return f"{SAMPLER_VARIABLE}={name!r} is not supported; use one of {', '.join(SAMPLERS)}"
