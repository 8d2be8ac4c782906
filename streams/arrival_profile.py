"""When customers contact a shop: the arrival profile of `sqm simulate --days`.

A contact's rate at an instant is `DAILY[local hour] * WEEKLY[local weekday]` in its tenant's
time zone, relative to the busiest hour of a weekday (1.0). docs/simulate.md defines it.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

# Relative rate per local hour 0..23: quiet nights, a morning peak (10:00), a lunch dip, an
# afternoon peak (15:00) and an evening of online shoppers tailing off towards midnight.
DAILY: tuple[float, ...] = (
    0.10, 0.06, 0.04, 0.04, 0.05, 0.08, 0.18, 0.40, 0.75, 0.95, 1.00, 0.95,
    0.70, 0.80, 0.95, 1.00, 0.90, 0.75, 0.60, 0.60, 0.55, 0.45, 0.30, 0.18,
)
# Relative rate per local weekday, Monday first: weekends are lighter.
WEEKLY: tuple[float, ...] = (1.00, 1.00, 0.95, 0.95, 0.90, 0.55, 0.45)
# Tenant i (shop-i) lives in ZONES[(i - 1) % len(ZONES)].
ZONES: tuple[str, ...] = ("Asia/Shanghai", "Europe/Berlin", "America/New_York")

HOUR = timedelta(hours=1)


def tenant_zone(tenant_index: int) -> ZoneInfo:
    """The time zone of tenant `shop-{tenant_index + 1}`."""
    return ZoneInfo(ZONES[tenant_index % len(ZONES)])


def rate(at: datetime, zone: ZoneInfo) -> float:
    """The relative contact rate at `at` (timezone-aware) in `zone`."""
    local = at.astimezone(zone)
    return DAILY[local.hour] * WEEKLY[local.weekday()]


class HourlyProfile:
    """The profile over [start, end) as cells of whole UTC hours (clipped at both ends), each
    weighted by its rate and length, for drawing arrival times in proportion to the rate.

    Whole UTC hours are whole local hours in every zone with whole-hour offsets, so a cell
    has one rate; DST changes are the zone's business (zoneinfo)."""

    def __init__(self, start: datetime, end: datetime, zone: ZoneInfo) -> None:
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("the profile needs timezone-aware datetimes")
        self.starts: list[datetime] = []
        self.lengths: list[float] = []  # seconds
        self.cumulative: list[float] = []
        total = 0.0
        cell = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        while cell < end:
            lo, hi = max(cell, start), min(cell + HOUR, end)
            if hi > lo:
                seconds = (hi - lo).total_seconds()
                total += rate(lo, zone) * seconds
                self.starts.append(lo)
                self.lengths.append(seconds)
                self.cumulative.append(total)
            cell += HOUR

    def at(self, u: float, v: float) -> datetime:
        """The arrival time for uniform draws `u` (which cell, by weight) and `v` (where in
        it): the inverse of the cumulative profile."""
        i = min(bisect_right(self.cumulative, u * self.cumulative[-1]), len(self.starts) - 1)
        return self.starts[i] + timedelta(seconds=v * self.lengths[i])
