"""The worker's Prometheus metrics.

Most are what the pipeline already counts (`PipelineStats`, the writer's retry counters, the
alert stage, the state table), so the hot loops pay nothing for them: the loop's heartbeat
(`LoopSampler` in streams/engine/faust/health.py, once a second) copies them, with the
consumer positions and the shards' clocks, into a `LoopSnapshot`, and one custom collector
exposes that copy. The scrape thread reads no pipeline object itself: while it did, `sqm
demo` scraped every second never finished its stop (5 runs of 5; Faust's table stop waited on
a task that stayed cancelling; the cause is not understood). benchmarks/metrics_overhead.py,
which scrapes in-process, exits 0 since. What cannot be read afterwards is observed where it
happens, in a line: batch sizes and insert durations (histograms).

Names are a contract (docs/deploy.md lists them; alert rules and dashboards use them).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from sqm.streams.observe.reasons import CATEGORIES

if TYPE_CHECKING:
    from sqm.streams.engine.faust.app import Pipeline

# Events per batch: from a trickle to SQM_BATCH_MAX's default (5,000) and beyond.
BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)
INSERT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# A pass of the state count starts this often; it runs in slices of STATE_SLICE_S per
# heartbeat (streams/observe/state_count.py).
STATE_EVERY_S = 60.0
STATE_SLICE_S = 0.02


@dataclass
class LoopSnapshot:
    """What the event loop last saw (written there, read by the scrape thread as a whole)."""

    lag: dict[tuple[str, str, int], int] = field(default_factory=dict)  # (group, topic, p)
    clocks: dict[int, int] = field(default_factory=dict)  # shard -> event clock, epoch ms
    firing: dict[str, int] = field(default_factory=dict)  # rule -> alerts firing
    counters: dict[str, int] = field(default_factory=dict)  # metric name -> value
    dead: dict[str, int] = field(default_factory=dict)  # reason category -> events
    state: tuple[int, int, int] = (0, 0, 0)  # customers, contacts, windows


class Metrics:
    """The registry of one worker process and the instruments its stages report to."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.registry = CollectorRegistry()
        self.snapshot = LoopSnapshot()
        self.batch_events = Histogram(
            "sqm_batch_events", "Events per processed batch, by stage", ["stage"],
            buckets=BATCH_BUCKETS, registry=self.registry)
        self.insert_seconds = Histogram(
            "sqm_clickhouse_insert_seconds", "Duration of one ClickHouse insert (retries "
            "included), by table", ["table"], buckets=INSERT_BUCKETS, registry=self.registry)
        self.registry.register(PipelineCollector(pipeline, self.snapshot))
        # The process's own CPU, memory, file descriptors and garbage collection.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        ingest = self.batch_events.labels("ingest").observe
        customer = self.batch_events.labels("customer").observe
        pipeline.ingest.on_batch = ingest
        pipeline.customers.on_batch = customer
        pipeline.customers.writer.on_insert = self._inserted

    def _inserted(self, table: str, seconds: float) -> None:
        self.insert_seconds.labels(table).observe(seconds)


def read_counters(pipeline: Pipeline) -> dict[str, int]:
    """The pipeline's own counters, by metric name (read on the event loop)."""
    s = pipeline.stats
    writer = pipeline.customers.writer
    return {
        "sqm_events_read": s.read,
        "sqm_events_stored": s.accepted + s.duplicates,
        "sqm_corrections_dropped": s.dropped_corrections,
        "sqm_clickhouse_retries": writer.retries,
        "sqm_clickhouse_failures": writer.failures,
        "sqm_alert_evaluations": pipeline.alerts.evaluations,
    }


COUNTERS = {
    "sqm_events_read": "Input events the ingest stage read",
    "sqm_events_stored": "Events the customer stage stored (distinct or merged duplicates)",
    "sqm_corrections_dropped": "Corrections to windows evicted from state that could not be "
                               "applied (sqm.dropped_corrections)",
    "sqm_clickhouse_retries": "ClickHouse calls retried after a transient error",
    "sqm_clickhouse_failures": "ClickHouse inserts that failed for good",
    "sqm_alert_evaluations": "Alert evaluations (one per alert partition and clock step)",
}


class PipelineCollector(Collector):
    """Exposes what the event loop last copied (`LoopSnapshot`): the scrape thread reads no
    object of the pipeline itself."""

    def __init__(self, pipeline: Pipeline, snapshot: LoopSnapshot) -> None:
        self.pipeline = pipeline
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self.snapshot
        counters = dict(snap.counters)
        for name, doc in COUNTERS.items():
            yield CounterMetricFamily(name, doc, value=counters.get(name, 0))
        dead = CounterMetricFamily("sqm_events_dead_lettered", "Events dead-lettered, by "
                                   "reason category", labels=["reason"])
        counts = dict(snap.dead)
        for reason in CATEGORIES:  # every one, at 0 too: a series that appears late rates wrong
            dead.add_metric([reason], counts.get(reason, 0))
        yield dead
        firing = GaugeMetricFamily("sqm_alerts_firing", "Alerts firing now (acknowledged "
                                   "included) on this worker's alert partitions, by rule",
                                   labels=["rule"])
        for rule, n in sorted(dict(snap.firing).items()):
            firing.add_metric([rule], n)
        yield firing
        yield from self._loop_metrics()
        yield from _state_metrics(snap.state)

    def _loop_metrics(self) -> Iterator[Metric]:
        snap = self.snapshot
        lag = GaugeMetricFamily("sqm_consumer_lag", "Messages not yet consumed and committed, "
                                "by consumer group and partition", labels=["group", "topic",
                                                                           "partition"])
        for (group, topic, partition), n in sorted(dict(snap.lag).items()):
            lag.add_metric([group, topic, str(partition)], n)
        yield lag
        clock = GaugeMetricFamily("sqm_event_clock_seconds", "The shard's event clock (low "
                                  "watermark), Unix time", labels=["shard"])
        delay = GaugeMetricFamily("sqm_event_clock_delay_seconds", "Wall clock minus the "
                                  "shard's event clock", labels=["shard"])
        now = time.time()
        for shard, ms in sorted(dict(snap.clocks).items()):
            clock.add_metric([str(shard)], ms / 1000)
            delay.add_metric([str(shard)], now - ms / 1000)
        yield clock
        yield delay


def _state_metrics(counts: tuple[int, int, int]) -> Iterator[Metric]:
    customers, contacts, windows = counts
    yield GaugeMetricFamily("sqm_state_customers", "Customers held in state", value=customers)
    yield GaugeMetricFamily("sqm_state_contacts", "Contacts held in state", value=contacts)
    yield GaugeMetricFamily("sqm_state_windows", "Partial one-minute windows held in state",
                            value=windows)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)
