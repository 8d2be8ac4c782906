"""Alert changes: one `sqm.alerts` row each (schemas/clickhouse/0002_alerts.sql), plus the
helpers every alert source shares (stable ids, times and values written for a person).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from itertools import chain
from operator import attrgetter
from typing import Any

# (tenant_id, channel, queue, priority, agent_id); '' = not scoped to one (all together).
ScopeKey = tuple[str, str, str, str, str]

BREACH, AT_RISK, ANOMALY = "breach", "at_risk", "anomaly"
FIRING, ACKNOWLEDGED, RESOLVED = "firing", "acknowledged", "resolved"
# Fixed per state rather than counted, so the latest state wins under FINAL whatever happened
# before: a replay without the live run's acknowledgement still writes resolved (3) over
# acknowledged (2), and re-emitting a change rewrites an identical row.
VERSIONS = {FIRING: 1, ACKNOWLEDGED: 2, RESOLVED: 3}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PERCENT = ("service_level", "abandonment_rate", "repeat_rate")
LABELS = {
    "service_level": "service level", "abandonment_rate": "abandonment rate",
    "repeat_rate": "repeat-contact rate", "avg_wait_s": "average wait",
    "wait_p90_s": "wait p90", "backlog": "backlog", "at_risk_count": "contacts at risk",
    "csat": "CSAT", "volume": "volume", "wait_s": "wait",
}


@dataclass(frozen=True, slots=True)
class AlertChange:
    """One state change of one alert: exactly the columns of `sqm.alerts`, times in epoch ms.

    `updated_at` is the engine's clock at the change (event time in a replay); a sink that wants
    the wall-clock write time passes it to `to_row`.
    """

    alert_id: str
    rule_id: str
    kind: str
    severity: str
    state: str
    metric: str
    tenant_id: str
    channel: str
    queue: str
    priority: str
    agent_id: str
    contact_id: str | None
    value: float
    threshold: float
    started_at: int
    ended_at: int | None
    message: str
    version: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-able (times stay epoch ms): the value for the Kafka topic `sqm.alerts`."""
        # Every field is a scalar: no deep copy needed (dataclasses.asdict was most of the
        # cost of emitting an alert).
        return dict(zip(_FIELDS, _VALUES(self), strict=True))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlertChange:
        return cls(**d)

    def to_row(self, updated_at: datetime | None = None) -> dict[str, Any]:
        """The ClickHouse row: aware UTC datetimes; `updated_at` defaults to the change's clock."""
        row = self.to_dict()
        row["started_at"] = to_datetime(self.started_at)
        row["ended_at"] = None if self.ended_at is None else to_datetime(self.ended_at)
        row["updated_at"] = updated_at if updated_at is not None else to_datetime(self.updated_at)
        return row


_FIELDS = tuple(f.name for f in fields(AlertChange))
_VALUES = attrgetter(*_FIELDS)


ChangeColumns = dict[str, tuple[Any, ...]]


def change_columns(changes: list[AlertChange]) -> ChangeColumns:
    """Many changes as `sqm.alerts` columns, times as epoch ms (the writer's column form)."""
    if not changes:
        return dict.fromkeys(_FIELDS, ())
    return dict(zip(_FIELDS, zip(*map(_VALUES, changes), strict=True), strict=True))


def joined_columns(parts: Iterable[ChangeColumns]) -> ChangeColumns:
    """`change_columns` of the parts' changes one after the other."""
    parts = list(parts)
    return {name: tuple(chain.from_iterable(part[name] for part in parts)) for name in _FIELDS}


def changes_of(columns: ChangeColumns) -> Iterator[AlertChange]:
    """The changes `change_columns` made these columns of, in order."""
    return (AlertChange(*values) for values in zip(*(columns[n] for n in _FIELDS), strict=True))


def alert_id(*parts: str | int) -> str:
    """A stable id: the same parts always give the same 24 hex digits."""
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def to_datetime(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def iso(ms: int) -> str:
    """`2026-03-02T01:08:00Z` (milliseconds only when there are some)."""
    # the UTC fields of the second it falls in, as `to_datetime(ms).strftime` gives them (half
    # its cost: every at-risk warning's message has one)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000))
    return f"{text}.{ms % 1000:03d}Z" if ms % 1000 else f"{text}Z"


def duration_text(ms: int) -> str:
    """`45 s`, `12 min`, `1.5 h`, `1 d`: the largest unit that reads well, not exact."""
    s = ms / 1000
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if s >= 2 * size or (s >= size and s % size == 0):
            return f"{s / size:.1f}".removesuffix(".0") + f" {unit}"
    return f"{s:.1f}".removesuffix(".0") + " s"


def value_text(metric: str, value: float) -> str:
    if metric in _PERCENT:
        return f"{value * 100:.1f} %"
    if metric.endswith("_s"):
        return f"{value:.1f} s"
    if metric == "csat":
        return f"{value:.2f}"
    return f"{value:g}"


def scope_text(key: ScopeKey) -> str:
    """`tenant t1, chat, queue billing` or `all contacts`."""
    tenant, channel, queue, priority, agent = key
    parts = [f"tenant {tenant}" if tenant else "", channel, f"queue {queue}" if queue else "",
             f"{priority} priority" if priority else "", f"agent {agent}" if agent else ""]
    return ", ".join(p for p in parts if p) or "all contacts"
