"""A contact's contribution to the one-minute SLA windows, and retract/add deltas.

Each counter is attributed to the minute of the time it is "by" (docs/metrics.md):
offered by `queued_at`; answered, answered_in_sla and wait by `answered_at`; abandoned and
short abandons by `abandoned_at`; created and repeat contacts by `created_at`; the policy's
service-level outcome (met / missed) by `answered_at` or `abandoned_at`; CSAT by the survey's
time. When a contact's
view changes, the delta is new contribution − old contribution, so a late event moves counts
between windows instead of adding them twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import add, itemgetter

from sqm.streams.core.derive import ContactView

MINUTE_MS = 60_000

# Counter positions in a window's totals. New counters are only ever appended: state and
# alert inputs written by an older version hold a prefix (`pad`).
(OFFERED, ANSWERED, IN_SLA, WAIT_MS, ABANDONED, SHORT, CREATED, REPEAT,
 SL_MET, SL_MISSED, CSAT_COUNT, CSAT_SUM, CSAT_GOOD) = range(13)
N_COUNTERS = 13
COUNTER_NAMES = (
    "offered", "answered", "answered_in_sla", "wait_ms_sum",
    "abandoned", "short_abandoned", "created", "repeat_contacts",
    "sl_met", "sl_missed", "csat_count", "csat_sum", "csat_good",
)

# (window_start_ms, tenant_id, channel, queue, priority)
WindowKey = tuple[int, str, str, str, str]
Counts = list[int]


def contribution(v: ContactView | None) -> dict[WindowKey, Counts]:
    out: dict[WindowKey, Counts] = {}
    if v is not None:
        _accumulate(out, v, 1)
    return out


def delta(old: ContactView | None, new: ContactView | None) -> dict[WindowKey, Counts]:
    """new − old per window, without all-zero entries."""
    if old is not None and new is not None and _inputs(old) == _inputs(new):
        return {}  # about half the updates (chat, resolve, survey, ...) move no window
    # One dict, added into with a sign: half the allocations of diffing two contributions.
    out: dict[WindowKey, Counts] = {}
    if new is not None:
        _accumulate(out, new, 1)
    if old is None:
        return out  # one view's: each window it has counts it once at least, none is all-zero
    _accumulate(out, old, -1)
    if new is None:
        return out
    return {key: d for key, d in out.items() if any(d)}


# Every view field `_accumulate` reads: views equal on these contribute equally.
_inputs = itemgetter(*(ContactView._fields.index(name) for name in (
    "tenant_id", "channel", "queue", "priority", "created_at", "is_repeat", "queued_at",
    "has_queued", "answered_at", "wait_ms", "answered_in_sla", "abandoned_at", "is_short_abandon",
    "sla_outcome", "surveyed_at", "csat",
)))


def _accumulate(out: dict[WindowKey, Counts], v: ContactView, sign: int) -> None:
    """Add `sign` × the contribution of `v` into `out` (reads only the fields of `_inputs`)."""
    dims = (v.tenant_id, v.channel, v.queue, v.priority)
    created_at = v.created_at
    if created_at is not None:
        counts = _slot(out, created_at, dims)
        counts[CREATED] += sign
        if v.is_repeat:
            counts[REPEAT] += sign
    csat = v.csat
    if csat is not None and v.surveyed_at is not None:
        counts = _slot(out, v.surveyed_at, dims)
        counts[CSAT_COUNT] += sign
        counts[CSAT_SUM] += sign * csat
        if csat >= 4:
            counts[CSAT_GOOD] += sign
    queued_at = v.queued_at
    if queued_at is None:  # no clock start: only created/repeat count
        return
    if v.has_queued:
        _slot(out, queued_at, dims)[OFFERED] += sign
    answered_at, wait_ms = v.answered_at, v.wait_ms
    if answered_at is not None and wait_ms is not None:
        counts = _slot(out, answered_at, dims)
        counts[ANSWERED] += sign
        counts[WAIT_MS] += sign * wait_ms
        if v.answered_in_sla:
            counts[IN_SLA] += sign
        if v.sla_outcome == "met":
            counts[SL_MET] += sign
        elif v.sla_outcome == "missed":
            counts[SL_MISSED] += sign
    abandoned_at = v.abandoned_at
    if abandoned_at is not None:
        counts = _slot(out, abandoned_at, dims)
        counts[ABANDONED] += sign
        if v.is_short_abandon:
            counts[SHORT] += sign
        if v.sla_outcome == "met":
            counts[SL_MET] += sign
        elif v.sla_outcome == "missed":
            counts[SL_MISSED] += sign


def _slot(out: dict[WindowKey, Counts], ts: int, dims: tuple[str, str, str, str]) -> Counts:
    key = (ts - ts % MINUTE_MS, *dims)
    counts = out.get(key)
    if counts is None:
        counts = out[key] = [0] * N_COUNTERS
    return counts


def pad(counts: list[int]) -> list[int]:
    """Counters written before newer ones were appended. Before SLA policies (8 counters)
    every contact had contract v1's policy, so its outcomes follow from the v1 counters; the
    CSAT counters start at 0 (exact for surveys from the upgrade on)."""
    if len(counts) == 8:
        c = counts
        counts = [*c, c[IN_SLA], c[ANSWERED] - c[IN_SLA] + c[ABANDONED] - c[SHORT]]
    if len(counts) < N_COUNTERS:
        counts = [*counts, *[0] * (N_COUNTERS - len(counts))]
    return counts


def add_into(total: Counts, d: Counts) -> None:
    if len(total) == len(d):  # the common case, element-wise in C, in place (same list)
        total[:] = map(add, total, d)
        return
    for i, x in enumerate(d):
        total[i] += x


def as_mapping(counts: Counts) -> Mapping[str, int]:
    return dict(zip(COUNTER_NAMES, counts, strict=True))
