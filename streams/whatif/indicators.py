"""The scorecard's indicators over recomputed contact views: `sqm.scorecard_indicators`
(migration 0010) in Python, because the proposed policy's contacts exist only in memory.

Definitions: docs/scorecard.md. The contacts are those created in the period; FCR looks at the
customer's next contact, past the period's end, within the side's repeat window.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqm.streams.core.derive import ContactView
from sqm.streams.core.scorecard import Measured

RATING_DIMENSIONS = ("professionalism", "patience")


@dataclass(slots=True)
class _Sums:
    """Counts and sums for one group, filled contact by contact."""

    n: int = 0
    first_n: int = 0
    first_ms: int = 0
    in_sla: int = 0
    rate_n: int = 0
    answered: int = 0
    fcr: int = 0
    provisional: int = 0
    resolution_n: int = 0
    resolution_ms: int = 0
    repeats: int = 0
    csat_n: int = 0
    csat_sum: int = 0
    csat_good: int = 0
    ratings: dict[str, list[int]] = field(default_factory=dict)  # dimension -> [n, sum]


def measure(views: Iterable[ContactView], next_created: Mapping[tuple[str, str], int | None],
            window_ms: int, horizon_ms: int) -> tuple[dict[str, Measured], int]:
    """Indicator name → value and contacts behind it, and the provisional FCR count, over
    `views` (the caller picks those created in the period)."""
    s = _Sums()
    for v in views:
        if v.created_at is None:
            continue
        s.n += 1
        if v.first_response_ms is not None:
            s.first_n += 1
            s.first_ms += v.first_response_ms
        s.in_sla += bool(v.answered_in_sla)
        if v.answered_at is not None or (v.is_abandoned and not v.is_short_abandon):
            s.rate_n += 1
            s.answered += v.answered_at is not None
        following = next_created.get((v.tenant_id, v.contact_id))
        followed = following is not None and following <= v.created_at + window_ms
        s.fcr += v.resolved_at is not None and v.reopen_count == 0 and not followed
        s.provisional += v.created_at + window_ms > horizon_ms
        if v.resolution_ms is not None:
            s.resolution_n += 1
            s.resolution_ms += v.resolution_ms
        s.repeats += v.is_repeat
        if v.csat is not None:
            s.csat_n += 1
            s.csat_sum += v.csat
            s.csat_good += v.csat >= 4
        for name, value in v.ratings:
            acc = s.ratings.setdefault(name, [0, 0])
            acc[0] += 1
            acc[1] += value
    out = {
        "first_response_s": Measured(_ratio(s.first_ms / 1000, s.first_n), s.first_n),
        "response_in_sla": Measured(_ratio(s.in_sla, s.first_n), s.first_n),
        "answered_rate": Measured(_ratio(s.answered, s.rate_n), s.rate_n),
        "fcr_rate": Measured(_ratio(s.fcr, s.n), s.n),
        "resolution_s": Measured(_ratio(s.resolution_ms / 1000, s.resolution_n),
                                 s.resolution_n),
        "repeat_rate": Measured(_ratio(s.repeats, s.n), s.n),
        "csat_share": Measured(_ratio(s.csat_good, s.csat_n), s.csat_n),
        "csat_mean": Measured(_ratio(s.csat_sum, s.csat_n), s.csat_n),
    }
    for name in RATING_DIMENSIONS:
        n, total = s.ratings.get(name, (0, 0))
        out[name] = Measured(_ratio(total, n), n)
    return out, s.provisional


def _ratio(part: float, whole: int) -> float | None:
    return part / whole if whole else None
