"""Tracing configuration from the standard `OTEL_*` environment variables, validated once.

Read (all optional; defaults in brackets):

- `OTEL_SDK_DISABLED`: `true` turns tracing off [false];
- `OTEL_TRACES_EXPORTER`: `otlp`, or `none` (off) [otlp];
- `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`: the collector's
  URL, `http://HOST:PORT` (plaintext) or `https://HOST:PORT` (TLS) [none: tracing off];
- `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, else `OTEL_EXPORTER_OTLP_PROTOCOL`: only `grpc`;
- `OTEL_SERVICE_NAME`: `service.name` [the process's own, e.g. `toolmesh-sidecar`];
- `OTEL_RESOURCE_ATTRIBUTES`: `key=value,...`, values percent-encoded [none];
- `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`: see `trace_sampling`
  [`parentbased_traceidratio`, 1.0];
- `OTEL_BSP_SCHEDULE_DELAY`: milliseconds between exports [5000];
- `OTEL_BSP_MAX_QUEUE_SIZE`: calls held for export; beyond, new ones are dropped [2048];
- `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`: calls per export request [512];
- `OTEL_BSP_EXPORT_TIMEOUT`: milliseconds shutdown waits for the last export [30000];
- `OTEL_SEMCONV_STABILITY_OPT_IN`: containing `rpc` (and not `rpc/dup`) drops the RPC
  attribute names of semantic conventions v1.37 and before [both sets are emitted].

The exporter itself (opentelemetry-exporter-otlp) also reads `OTEL_EXPORTER_OTLP_[TRACES_]`
`HEADERS`, `TIMEOUT`, `COMPRESSION`, `CERTIFICATE`, `CLIENT_KEY`, `CLIENT_CERTIFICATE` and
`INSECURE`. The queue limits count calls, not spans: a call is two spans plus one per attempt.

Unlike the SDK, which falls back to defaults with a warning, an invalid value is refused with
a TracingConfigError naming the variable: a process that was meant to trace should not start
silently without traces.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from mesh.telemetry.trace_sampling import Sampler, SamplerConfigError, sampler_from_environment

AttributeValue = str | bool | int | float

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
PROTOCOL_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL")
RECOMMENDED_PRODUCTION_SAMPLING = {
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.01",
}


class TracingConfigError(ValueError):
    """An `OTEL_*` variable has a value tracing cannot use; the message names it."""


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """What tracing exports, where, and how often. Durations in seconds, sizes in calls."""

    endpoint: str
    sampler: Sampler = field(default_factory=Sampler)
    resource: tuple[tuple[str, AttributeValue], ...] = ()
    legacy_rpc_attributes: bool = True  # also emit rpc.system, rpc.service, rpc.grpc.status_code
    schedule_delay_s: float = 5.0
    max_queue_calls: int = 2048
    max_batch_calls: int = 512
    shutdown_timeout_s: float = 30.0

    @property
    def service_name(self) -> str:
        return str(dict(self.resource).get("service.name", ""))


@dataclass(frozen=True, slots=True)
class TracingOff:
    """Tracing is off; `reason` says why, for the start-up log line."""

    reason: str


def settings_from_environment(
    environ: Mapping[str, str], service_name_default: str, service_version: str = ""
) -> TracingSettings | TracingOff:
    """The settings the `OTEL_*` variables in `environ` describe, or TracingOff.

    Raises TracingConfigError for a value that cannot be used.
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return TracingOff("OTEL_SDK_DISABLED=true")
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if exporter == "none":
        return TracingOff("OTEL_TRACES_EXPORTER=none")
    if exporter != "otlp":
        raise TracingConfigError(
            f"OTEL_TRACES_EXPORTER={exporter!r} is not supported; use otlp (OTLP/gRPC) or none"
        )
    endpoint, endpoint_variable = "", ""
    for variable in ENDPOINT_VARIABLES:
        endpoint = environ.get(variable, "").strip()
        if endpoint:
            endpoint_variable = variable
            break
    if not endpoint:
        return TracingOff(f"no collector configured ({' or '.join(ENDPOINT_VARIABLES)})")
    _check_endpoint(endpoint_variable, endpoint)
    for variable in PROTOCOL_VARIABLES:
        protocol = environ.get(variable, "").strip().lower()
        if protocol and protocol != "grpc":
            raise TracingConfigError(
                f"{variable}={protocol!r} is not supported: traces are exported over OTLP/gRPC"
                f" (set it to grpc, or unset it)"
            )
        if protocol:
            break
    try:
        sampler = sampler_from_environment(environ)
    except SamplerConfigError as error:
        raise TracingConfigError(str(error)) from None
    queue = _positive_int(environ, "OTEL_BSP_MAX_QUEUE_SIZE", 2048)
    batch = _positive_int(environ, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", 512)
    if batch > queue:
        raise TracingConfigError(
            f"OTEL_BSP_MAX_EXPORT_BATCH_SIZE ({batch}) must not exceed"
            f" OTEL_BSP_MAX_QUEUE_SIZE ({queue})"
        )
    opt_in = {v.strip() for v in environ.get("OTEL_SEMCONV_STABILITY_OPT_IN", "").split(",")}
    return TracingSettings(
        endpoint=endpoint,
        sampler=sampler,
        resource=_resource(environ, service_name_default, service_version),
        legacy_rpc_attributes="rpc/dup" in opt_in or "rpc" not in opt_in,
        schedule_delay_s=_positive_int(environ, "OTEL_BSP_SCHEDULE_DELAY", 5000) / 1000,
        max_queue_calls=queue,
        max_batch_calls=batch,
        shutdown_timeout_s=_positive_int(environ, "OTEL_BSP_EXPORT_TIMEOUT", 30000) / 1000,
    )


def _check_endpoint(variable: str, endpoint: str) -> None:
    parsed = urllib.parse.urlsplit(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise TracingConfigError(
            f"{variable}={endpoint!r} is not a collector URL; write http://HOST:PORT"
            f" (plaintext) or https://HOST:PORT (TLS), e.g. http://127.0.0.1:4317"
        )
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise TracingConfigError(f"{variable}={endpoint!r} has an invalid port") from None


def _positive_int(environ: Mapping[str, str], variable: str, default: int) -> int:
    text = environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise TracingConfigError(f"{variable} must be a positive integer (got {text!r})")
    return value


def _resource(
    environ: Mapping[str, str], service_name_default: str, service_version: str
) -> tuple[tuple[str, AttributeValue], ...]:
    """Resource attributes: ours, then OTEL_RESOURCE_ATTRIBUTES, then OTEL_SERVICE_NAME
    (later ones win, as in the SDK)."""
    attributes: dict[str, AttributeValue] = {
        "service.name": service_name_default,
        "telemetry.sdk.name": "toolmesh",
        "telemetry.sdk.language": "python",
    }
    if service_version:
        attributes["service.version"] = service_version
    text = environ.get("OTEL_RESOURCE_ATTRIBUTES", "").strip()
    for entry in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = entry.partition("=")
        key = key.strip()
        if not sep or not key:
            raise TracingConfigError(
                f"OTEL_RESOURCE_ATTRIBUTES: {entry!r} is not key=value"
                f" (entries are separated by commas, values percent-encoded)"
            )
        attributes[key] = urllib.parse.unquote(value.strip())
    service = environ.get("OTEL_SERVICE_NAME", "").strip()
    if service:
        attributes["service.name"] = service
    return tuple(attributes.items())
