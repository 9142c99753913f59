"""Example tools: small, real gRPC servers (grpc.aio), each started by one command.

Each tool is a package with a `start(listen="127.0.0.1:0", **opts)` coroutine returning the
started server and its bound address, the servicer class(es), and a `__main__` so that
`python -m examples.tools.NAME --listen HOST:PORT` serves until SIGTERM/SIGINT:

- `echo` (`echo.v1.Echo`): a steerable tool for tests and benchmarks.
- `email_parser` (`support.v1.EmailParser`), `sentiment` (`support.v1.Sentiment`),
  `customer_lookup` (`support.v1.CustomerLookup`), `priority_router`
  (`support.v1.PriorityRouter`): the support pipeline of the demo.

Schemas live in `proto/` (one directory per proto package), generated code in `gen/`.
"""
