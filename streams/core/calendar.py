"""Business-hours calendars: business time between two instants, and when an amount runs out.

Instants are epoch milliseconds UTC, like every time in `streams/core`; opening hours are local
wall-clock times in an IANA zone. An interval `[start, end)` of a local date opens at the first
instant local clocks show `start` and closes at the first instant they show `end`. So on a DST
change day an interval that spans the change is an hour shorter or longer, an opening time that
the clocks skip opens at the moment they jump, and a repeated wall time counts from its first
occurrence. Intervals of different dates therefore never overlap and come in order.

All work is per local date (its UTC intervals are cached), so a query costs O(days spanned).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[int, int]  # [start, end) in minutes after local midnight; end ≤ 1440 (24:00)
DAY_MINUTES = 1440
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_DAY = timedelta(days=1)
_MINUTE_MS = 60_000
_DAY_MS = DAY_MINUTES * _MINUTE_MS
_HHMM = re.compile(r"([0-9]{2}):([0-9]{2})", re.ASCII)
# Past the last special date, this many closed days in a row means the hours never open.
_MAX_CLOSED_RUN = 14


class Calendar(Protocol):
    """What an SLA target needs from a clock: business or plain calendar time."""

    def business_ms_between(self, start_ms: int, end_ms: int) -> int: ...

    def add_business_ms(self, start_ms: int, amount_ms: int) -> int: ...

    def is_open(self, ms: int) -> bool: ...


class AlwaysOpen:
    """Calendar time: every millisecond counts (O(1), no zone involved)."""

    def business_ms_between(self, start_ms: int, end_ms: int) -> int:
        return max(0, end_ms - start_ms)

    def add_business_ms(self, start_ms: int, amount_ms: int) -> int:
        _check_amount(amount_ms)
        return start_ms + amount_ms

    def is_open(self, ms: int) -> bool:
        return True

    def __repr__(self) -> str:
        return "AlwaysOpen()"


ALWAYS_OPEN = AlwaysOpen()


def load_zone(name: str) -> ZoneInfo:
    """An IANA zone, or ValueError with one line naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r} (want an IANA name such as Asia/Shanghai)"
        ) from None


def parse_time(text: str) -> int:
    """'HH:MM' (00:00 to 24:00) → minutes after local midnight."""
    m = _HHMM.fullmatch(text)
    minutes = int(m[1]) * 60 + int(m[2]) if m and int(m[2]) < 60 else -1
    if not 0 <= minutes <= DAY_MINUTES:
        raise ValueError(f"bad time {text!r} (want HH:MM from 00:00 to 24:00)")
    return minutes


def parse_interval(text: str) -> Interval:
    """'HH:MM-HH:MM' → an interval; it must not cross midnight (split it at 24:00 instead)."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"bad interval {text!r} (want 'HH:MM-HH:MM', e.g. '09:00-18:00')")
    interval = (parse_time(start.strip()), parse_time(end.strip()))
    if interval[0] >= interval[1]:
        raise ValueError(
            f"bad interval {text!r}: it must end after it starts "
            "(to cross midnight, split it into '…-24:00' and '00:00-…')"
        )
    return interval


def format_interval(interval: Interval) -> str:
    return "-".join(f"{m // 60:02d}:{m % 60:02d}" for m in interval)


def check_day(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    """Sorted intervals of one day; ValueError on an empty, out-of-range or overlapping one."""
    day = tuple(sorted(intervals))
    for start, end in day:
        if not 0 <= start < end <= DAY_MINUTES:
            raise ValueError(f"bad interval {format_interval((start, end))}")
    for a, b in pairwise(day):
        if b[0] < a[1]:
            raise ValueError(f"overlapping intervals {format_interval(a)} and {format_interval(b)}")
    return day


class BusinessCalendar:
    """Weekly opening hours in one zone, minus holidays, plus extra working days."""

    def __init__(
        self,
        zone: str,
        weekly: Sequence[Iterable[Interval]],
        holidays: Iterable[date] = (),
        extra_working_days: Mapping[date, Iterable[Interval]] | None = None,
    ) -> None:
        """`weekly[0]` is Monday's hours; an extra working day has its own hours."""
        if len(weekly) != 7:
            raise ValueError("weekly hours need 7 days, Monday first")
        self.zone_name = zone
        self.zone = load_zone(zone)
        self.weekly = tuple(check_day(day) for day in weekly)
        if not any(self.weekly):
            raise ValueError("weekly hours are empty: the calendar would never open")
        extra = {d: check_day(hours) for d, hours in (extra_working_days or {}).items()}
        clash = sorted(set(holidays) & set(extra))
        if clash:
            raise ValueError(f"{clash[0].isoformat()} is both a holiday and an extra working day")
        self.special: dict[date, tuple[Interval, ...]] = {d: () for d in holidays} | extra
        self._last_special = max(self.special, default=date.min)
        # Bounded: a worker sees a sliding range of dates, a replay moves through history once.
        self._utc_day = lru_cache(maxsize=4096)(self._compute_utc_day)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.zone_name!r}, {len(self.special)} special days)"

    # --- queries ---------------------------------------------------------------------------

    def business_ms_between(self, start_ms: int, end_ms: int) -> int:
        """Business time in [start_ms, end_ms); 0 when end_ms ≤ start_ms."""
        total = 0
        if end_ms > start_ms:
            for lo, hi in self._intervals_from(start_ms):
                if lo >= end_ms:
                    break
                total += min(hi, end_ms) - max(lo, start_ms)
        return total

    def add_business_ms(self, start_ms: int, amount_ms: int) -> int:
        """The earliest instant by which `amount_ms` of business time has passed since start_ms.

        Inverse of business_ms_between: `business_ms_between(s, add_business_ms(s, a)) == a`.
        A positive amount ends inside or at the close of an interval, never at an opening.
        """
        _check_amount(amount_ms)
        if amount_ms == 0:
            return start_ms
        left = amount_ms
        for lo, hi in self._intervals_from(start_ms):
            lo = max(lo, start_ms)
            if hi - lo >= left:
                return lo + left
            left -= hi - lo
        raise AssertionError("unreachable: _intervals_from never ends")

    def is_open(self, ms: int) -> bool:
        # The first interval that ends after ms contains it, or opens later.
        return next(self._intervals_from(ms))[0] <= ms

    # --- per local date ----------------------------------------------------------------------

    def local_date(self, ms: int) -> date:
        return (_EPOCH + ms * _MS).astimezone(self.zone).date()

    def utc_intervals(self, day: date) -> tuple[Interval, ...]:
        """The local date's opening hours as [start_ms, end_ms) UTC instants (cached)."""
        return self._utc_day(day)

    def _intervals_from(self, ms: int) -> Iterator[Interval]:
        """UTC intervals ending after ms, in order, without end (every week opens somewhere).

        Earlier dates need no look: their intervals close by the first instant clocks show
        ms's local date, which is ms or before.
        """
        day = self.local_date(ms)
        closed_run = 0
        while True:
            intervals = self._utc_day(day)
            closed_run = 0 if intervals else closed_run + 1
            if closed_run > _MAX_CLOSED_RUN and day > self._last_special:
                raise ValueError(f"{self!r} never opens after {day.isoformat()}")
            for interval in intervals:
                if interval[1] > ms:
                    yield interval
            day += _DAY

    def _compute_utc_day(self, day: date) -> tuple[Interval, ...]:
        hours = self.special.get(day, self.weekly[day.weekday()])
        out = []
        for start, end in hours:
            lo, hi = self._first_shows(day, start), self._first_shows(day, end)
            if hi > lo:  # an interval inside a skipped hour is empty
                out.append((lo, hi))
        return tuple(out)

    def _first_shows(self, day: date, minute: int) -> int:
        """The first instant local clocks show `minute` of `day` (or later, if they skip it)."""
        if minute == DAY_MINUTES:
            day, minute = day + _DAY, 0
        local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.zone)
        # PEP 495: fold=0 is the first occurrence of a repeated time; for a skipped time it
        # uses the offset from before the jump, which lands after the jump.
        first = (local - _EPOCH) // _MS
        second = (local.replace(fold=1) - _EPOCH) // _MS
        if first <= second:
            return first
        # Skipped: clocks jump over it at an instant in (second, first]; find that instant.
        wall = (day - _EPOCH.date()).days * _DAY_MS + minute * _MINUTE_MS
        lo, hi = second, first  # wall clock before lo < wall ≤ wall clock at hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._wall_ms(mid) >= wall:
                hi = mid
            else:
                lo = mid
        return hi

    def _wall_ms(self, ms: int) -> int:
        """Local wall-clock time at instant ms, as milliseconds since local 1970-01-01 00:00."""
        offset = (_EPOCH + ms * _MS).astimezone(self.zone).utcoffset()
        return ms + (offset // _MS if offset is not None else 0)


def _check_amount(amount_ms: int) -> None:
    if amount_ms < 0:
        raise ValueError(f"amount_ms must be ≥ 0, got {amount_ms}")
