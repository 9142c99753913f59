"""Resilience decisions: pure, synchronous objects on an injected clock and RNG.

One concern per module; none does I/O, starts a task or reads the wall clock:

- `backoff` — retry delays (exponential, full jitter) and `grpc-retry-pushback-ms`;
- `budget` — the per-tool retry budget (retries and hedges vs recent calls);
- `breaker` — the per-method circuit breaker state machine;
- `outlier` — per-endpoint ejection, with a max share and panic mode;
- `balance` — pickers: power-of-two-choices least-request and peak EWMA, round-robin;
- `hedge` — live p95 latency and the hedging delay;
- `concurrency` — the per-tool in-flight limit with a FIFO queue of callbacks;
- `idempotency` — whether a method may be sent twice;
- `errors` — the errors the mesh produces and their `grpc-status-details-bin`;
- `window` — the bucketed sliding-window counter the budget and breaker share.
"""
