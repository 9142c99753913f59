"""Labelled series kept as plain Python objects, exposed through prometheus_client.

prometheus_client's own metric objects take a lock per update and a label lookup per call
(about 0.9 us per histogram observation, 1.1 us per `labels()`); the relay records several
per call. Here a series is a small object with plain attributes that the caller binds once
and updates in place: a counter increment is one attribute update, a histogram observation
one `bisect` and two updates. prometheus_client still does the exposition (text format and
OpenMetrics with exemplars) through `FamilyCollector`.

Threads: one event loop writes; scrapes read on the metrics server's thread. Reads copy
each series' state first (under the GIL a list copy is atomic), so a scrape may see a
histogram's count a moment before its sum, never a torn number. Counters carry no
`_created` series.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar

log = logging.getLogger("toolmesh.metrics")

Kind = Literal["counter", "gauge", "histogram"]
Bucket = tuple[str, float] | tuple[str, float, Exemplar]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One metric: its exposition name (counters end in `_total`), type, help text (which
    is also its meaning in the README's table), label names and, for a histogram, the upper
    bounds of its buckets in ascending order."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


class Value:
    """A counter's or a gauge's value."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0


class Reading:
    """A gauge read at scrape time from `read()`, on the metrics server's thread."""

    __slots__ = ("read",)

    def __init__(self, read: Callable[[], float]) -> None:
        self.read = read


class Histogram:
    """Observations per bucket (not cumulative; the last slot is above the top bound), their
    sum, and the latest exemplar per bucket as (trace_id, value, unix time)."""

    __slots__ = ("bounds", "counts", "exemplars", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.exemplars: list[tuple[str, float, float] | None] = [None] * len(self.counts)

    def observe(self, value: float, trace_id: str | None = None) -> None:
        # The first bound >= value is the `le` bucket that holds it (bounds are inclusive).
        index = bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.sum += value
        if trace_id:
            self.exemplars[index] = (trace_id, value, time.time())

    def cumulative(self) -> tuple[list[Bucket], float]:
        """The `le` buckets as exposed (cumulative, with exemplars) and the sum."""
        counts = list(self.counts)
        exemplars = list(self.exemplars)
        total = self.sum
        buckets: list[Bucket] = []
        running = 0
        for bound, count, exemplar in zip(
            _bounds_text(self.bounds), counts, exemplars, strict=True
        ):
            running += count
            if exemplar is None:
                buckets.append((bound, running))
            else:
                trace_id, value, at = exemplar
                buckets.append((bound, running, Exemplar({"trace_id": trace_id}, value, at)))
        return buckets, total


_BOUNDS_TEXT: dict[tuple[float, ...], list[str]] = {}


def _bounds_text(bounds: tuple[float, ...]) -> list[str]:
    text = _BOUNDS_TEXT.get(bounds)
    if text is None:
        # As Go and prometheus_client print them ("0.00025", "1.0", "60.0").
        text = _BOUNDS_TEXT[bounds] = [*(repr(float(bound)) for bound in bounds), "+Inf"]
    return text


Cell = Value | Reading | Histogram


class Family:
    """A metric's series by label values. Written by one event loop, read by scrapes."""

    __slots__ = ("cells", "spec")

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.cells: dict[tuple[str, ...], Cell] = {}

    def value(self, *labels: str) -> Value:
        """The counter or gauge series of `labels` (created at 0 when new)."""
        cell = self.cells.get(labels)
        if not isinstance(cell, Value):
            cell = self.cells[labels] = Value()
        return cell

    def histogram(self, *labels: str) -> Histogram:
        """The histogram series of `labels` (created empty when new)."""
        cell = self.cells.get(labels)
        if not isinstance(cell, Histogram):
            cell = self.cells[labels] = Histogram(self.spec.buckets)
        return cell

    def reading(self, read: Callable[[], float], *labels: str) -> None:
        """The gauge series of `labels` reads `read()` at each scrape from now on."""
        self.cells[labels] = Reading(read)

    def forget(self, label: str, value: str) -> None:
        """Drops every series whose `label` is `value`."""
        position = self.spec.labels.index(label)
        for key in [key for key in self.cells if key[position] == value]:
            del self.cells[key]

    def collect(self) -> Metric:
        """The family with its samples (called on the scrape thread)."""
        spec = self.spec
        cells = list(self.cells.items())  # one C-level copy: safe against the writing loop
        metric = _empty(spec)
        for labels, cell in cells:
            if isinstance(cell, Histogram):
                assert isinstance(metric, HistogramMetricFamily)
                buckets, total = cell.cumulative()
                metric.add_metric(list(labels), buckets, total)
            elif isinstance(cell, Value):
                assert not isinstance(metric, HistogramMetricFamily)
                metric.add_metric(list(labels), cell.value)
            else:
                assert isinstance(metric, GaugeMetricFamily)
                value = _read(spec, cell)
                if value is not None:
                    metric.add_metric(list(labels), value)
        return metric


def _empty(spec: MetricSpec) -> CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily:
    if spec.kind == "histogram":
        return HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)


def _read(spec: MetricSpec, reading: Reading) -> float | None:
    try:
        return float(reading.read())
    except Exception:
        # A broken reader must not fail the whole scrape: its series is left out, loudly.
        log.exception("metric %s: reading the value failed; the series is left out", spec.name)
        return None


class FamilyCollector(Collector):
    """A set of families, registered in a CollectorRegistry as one collector."""

    def __init__(self, specs: Iterable[MetricSpec]) -> None:
        self.families = {spec.name: Family(spec) for spec in specs}

    def __getitem__(self, spec: MetricSpec) -> Family:
        return self.families[spec.name]

    def collect(self) -> Iterator[Metric]:
        for family in self.families.values():
            yield family.collect()

    def describe(self) -> Iterator[Metric]:
        # Names only: registering must not run the readers.
        for family in self.families.values():
            yield _empty(family.spec)


def metrics_registry(*, process: bool = True) -> CollectorRegistry:
    """A new registry for one process (never prometheus_client's global one). With
    `process`, it also serves the standard process_* (CPU seconds, memory, open files),
    python_gc_* and python_info metrics."""
    registry = CollectorRegistry(auto_describe=True)
    if process:
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            registry.register(collector)
    return registry
