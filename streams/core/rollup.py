"""A contact's contribution to the one-minute SLA windows, and retract/add deltas.

Each counter is attributed to the minute of the time it is "by" (docs/metrics.md):
offered by `queued_at`; answered, answered_in_sla and wait by `answered_at`; abandoned and
short abandons by `abandoned_at`; created and repeat contacts by `created_at`. When a contact's
view changes, the delta is new contribution − old contribution, so a late event moves counts
between windows instead of adding them twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from streams.core.derive import ContactView

MINUTE_MS = 60_000

# Counter positions in a window's totals.
OFFERED, ANSWERED, IN_SLA, WAIT_MS, ABANDONED, SHORT, CREATED, REPEAT = range(8)
N_COUNTERS = 8
COUNTER_NAMES = (
    "offered", "answered", "answered_in_sla", "wait_ms_sum",
    "abandoned", "short_abandoned", "created", "repeat_contacts",
)

# (window_start_ms, tenant_id, channel, queue, priority)
WindowKey = tuple[int, str, str, str, str]
Counts = list[int]


def _minute(ts: int) -> int:
    return ts - ts % MINUTE_MS


def contribution(v: ContactView | None) -> dict[WindowKey, Counts]:
    out: dict[WindowKey, Counts] = {}
    if v is None:
        return out
    dims = (v.tenant_id, v.channel, v.queue, v.priority)

    def add(ts: int, index: int, amount: int = 1) -> None:
        key = (_minute(ts), *dims)
        counts = out.get(key)
        if counts is None:
            counts = out[key] = [0] * N_COUNTERS
        counts[index] += amount

    if v.created_at is not None:
        add(v.created_at, CREATED)
        if v.is_repeat:
            add(v.created_at, REPEAT)
    if v.has_queued and v.queued_at is not None:
        add(v.queued_at, OFFERED)
    if v.clock_started:
        if v.answered_at is not None and v.wait_ms is not None:
            add(v.answered_at, ANSWERED)
            add(v.answered_at, WAIT_MS, v.wait_ms)
            if v.answered_in_sla:
                add(v.answered_at, IN_SLA)
        if v.abandoned_at is not None:
            add(v.abandoned_at, ABANDONED)
            if v.is_short_abandon:
                add(v.abandoned_at, SHORT)
    return out


def delta(old: ContactView | None, new: ContactView | None) -> dict[WindowKey, Counts]:
    """new − old per window, without all-zero entries."""
    before = contribution(old)
    after = contribution(new)
    out: dict[WindowKey, Counts] = {}
    for key in before.keys() | after.keys():
        b = before.get(key)
        a = after.get(key)
        if a is None:
            d = [-x for x in b] if b is not None else []
        elif b is None:
            d = list(a)
        else:
            d = [x - y for x, y in zip(a, b, strict=True)]
        if any(d):
            out[key] = d
    return out


def add_into(total: Counts, d: Counts) -> None:
    for i, x in enumerate(d):
        total[i] += x


def as_mapping(counts: Counts) -> Mapping[str, int]:
    return dict(zip(COUNTER_NAMES, counts, strict=True))
