"""Telemetry: Prometheus metrics (`mesh.telemetry.metrics`) and OpenTelemetry traces
(`mesh.telemetry.tracing`).

The submodules are imported on their own, never from here, so a process that wants only one
of them does not pay for the other's imports.
"""
