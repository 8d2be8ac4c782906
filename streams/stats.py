"""In-process pipeline counters: what the replay progress bar and the summary line read."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class PipelineStats:
    read: int = 0  # input records the ingest stage handled
    dead_lettered: int = 0  # invalid at ingest + late at the customer stage
    forwarded: int = 0  # valid events sent on to the customer stage
    processed: int = 0  # events the customer stage has stored (accepted, duplicate or late)
    accepted: int = 0  # distinct events merged into a contact
    duplicates: int = 0  # re-deliveries of an event already merged
    late: int = 0
    dropped_corrections: int = 0
    dead_reasons: Counter[str] = field(default_factory=Counter)  # by reason_category
    batches: int = 0
    alert_changes: int = 0  # alert rows written (firing, resolved, at-risk, ...)
    alert_inputs_sent: int = 0  # messages from the customer stage to the alert stage
    alert_inputs_done: int = 0  # of those, evaluated and written by the alert stage
    # Records produced as whole batches (changelogs, sqm.alerts), per topic.
    produced: Counter[str] = field(default_factory=Counter)
    restored_contacts: int = 0  # evicted long-lived contacts read back from ClickHouse
    restored_windows: int = 0
    write_retries: int = 0  # inserts retried after a transient ClickHouse error
    outage_s: float = 0.0  # seconds ClickHouse was unavailable and writes waited (summed)
    # Alert partitions whose every shard reported the end of input, evaluated to the end.
    alert_partitions_closed: set[int] = field(default_factory=set)

    @property
    def alerts_caught_up(self) -> bool:
        return self.alert_inputs_done >= self.alert_inputs_sent

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "produced": dict(self.produced),
                "dead_reasons": dict(self.dead_reasons), "settled": self.settled,
                "alert_partitions_closed": len(self.alert_partitions_closed)}

    @property
    def settled(self) -> int:
        """Input events whose every result is written: stored or dead-lettered."""
        return self.processed + self.dead_lettered - self.late
