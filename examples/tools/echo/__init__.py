"""echo — the steerable tool (`echo.v1.Echo`) that tests and benchmarks call.

Start it with `python -m examples.tools.echo --listen 127.0.0.1:0 [--instance NAME]`, or
in-process with `await start(...)`. An instance can be made slow or flaky for every call
(`--latency-ms N`, `--fail-rate R` with `--seed N`; `InstanceFaults` in-process), and
`--report-calls` prints its call counts on SIGUSR1. Each request steers its own call (see
`examples/tools/proto/echo/v1/echo.proto`):

- `payload` is echoed back, or `response_size` bytes are sent instead;
- `latency_ms` delays the reply, `hang` withholds it until the call is cancelled;
- `status_code` + `status_message` fail the call (any gRPC code, any unicode message), with
  probability `failure_rate` when that is set (default code then UNAVAILABLE);
- `count` and `interval_ms` shape ServerStream; ClientStream concatenates, Bidi echoes each;
- `compress_response` gzips the replies;
- `x-*` request metadata (binary `-bin` keys too) comes back in the initial and the trailing
  metadata, and every response reports the deadline the tool saw (`deadline_ms`, -1 if none)
  and the answering `instance`.

With a collector named by `OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`, each call records its own
SERVER span, child of the `traceparent` it was sent (`examples.tools.echo.tracing`).

`EchoServicer.log` (a `CallLog`) counts calls per method and lets in-process tests wait for
a call (by its `call_id`) to start or to observe its cancellation.
"""

from examples.tools.echo.calls import CallLog
from examples.tools.echo.instance import InstanceFaults
from examples.tools.echo.servicer import EchoServicer, start

__all__ = ["CallLog", "EchoServicer", "InstanceFaults", "start"]
