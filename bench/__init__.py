"""Benchmarks of toolmesh, run as programs (`python -m bench`, or one of them:
`python -m bench.forwarding`, `python -m bench.resilience`), not as tests.

Each benchmark starts real processes on 127.0.0.1, drives them with real load generators and
stops every process it started by its PID before it returns.
"""
