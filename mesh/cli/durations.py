"""Durations on the command line: the one parser of `mesh.config.durations`, in the
`timedelta` form the CLI works with (`--timeout 5s`, `--grace-period 10`).

The spellings (`250ms`, `2s`, `1m30s`), their errors and the bare-number rule are those of
policy files; see `mesh.config.durations`.
"""

from __future__ import annotations

from mesh.config.durations import EXAMPLES, DurationError, format_duration
from mesh.config.durations import parse_timedelta as parse_duration

__all__ = ["EXAMPLES", "DurationError", "format_duration", "parse_duration"]
