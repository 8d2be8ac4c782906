"""Which of a shard's state entries an eviction sweep has to look at.

A sweep evicts the windows that ended before the state's horizon and the contacts whose last
event is older than it (`Shard._sweep_if_due`). Reading every key of the shard for that costs
the whole state once per event-hour: 88 % of the customer stage's CPU on a 30-day history in
live-sized batches (docs/performance.md). The index files each window under the hour of its
minute and each customer under the hour of its oldest contact's last event, so a sweep reads
only the hours that are due: what it evicts, plus at most one hour of entries that are not.

It answers exactly as reading every key would, provided it sees every change of the state's
keys. The shard tells it of the entries it adds and removes; whatever else writes the state
(a recovery from a changelog) must `reset` it. An index not `built` is filled from the state
at the next sweep, by the full scan it replaces.
"""

from __future__ import annotations

from collections.abc import Iterable

HOUR_MS = 3_600_000


class SweepIndex:
    __slots__ = ("_customer_hour", "_customers", "_windows", "built")

    def __init__(self) -> None:
        self.built = False
        self._windows: dict[int, dict[str, int]] = {}  # hour -> window key -> its minute (ms)
        self._customers: dict[int, set[str]] = {}  # hour of the oldest last event -> keys
        self._customer_hour: dict[str, int] = {}

    def __len__(self) -> int:
        """The entries indexed (the state's windows and customers with contacts, once built)."""
        return sum(map(len, self._windows.values())) + len(self._customer_hour)

    def reset(self) -> None:
        """Forget everything: the state changed behind the shard's back."""
        self.built = False
        self._windows.clear()
        self._customers.clear()
        self._customer_hour.clear()

    def build(self, windows: Iterable[tuple[str, int]],
              customers: Iterable[tuple[str, int | None]]) -> None:
        """Index the state's entries: (window key, minute), (customer key, oldest last event
        or None without contacts)."""
        self.reset()
        self.built = True
        for key, minute in windows:
            self.add_window(key, minute)
        for key, oldest in customers:
            self.note_customer(key, oldest)

    def add_window(self, key: str, minute: int) -> None:
        if self.built:
            hour = minute // HOUR_MS
            bucket = self._windows.get(hour)
            if bucket is None:
                bucket = self._windows[hour] = {}
            bucket[key] = minute

    def note_customer(self, key: str, oldest: int | None) -> None:
        """The customer's oldest last event now (None: no contacts, nothing to evict)."""
        if not self.built:
            return
        was = self._customer_hour.get(key)
        hour = None if oldest is None else oldest // HOUR_MS
        if was == hour:
            return
        if was is not None:
            self._drop_customer(key, was)
        if hour is not None:
            self._customer_hour[key] = hour
            bucket = self._customers.get(hour)
            if bucket is None:
                bucket = self._customers[hour] = set()
            bucket.add(key)

    def forget_customer(self, key: str) -> None:
        hour = self._customer_hour.get(key)
        if hour is not None:
            self._drop_customer(key, hour)

    def _drop_customer(self, key: str, hour: int) -> None:
        del self._customer_hour[key]
        bucket = self._customers[hour]
        bucket.discard(key)
        if not bucket:
            del self._customers[hour]

    def take_windows(self, last_minute: int) -> list[str]:
        """Remove and return the windows whose minute is at or before `last_minute` (a window
        kept after all is added again)."""
        due: list[str] = []
        last_hour = last_minute // HOUR_MS
        for hour in [h for h in self._windows if h <= last_hour]:
            bucket = self._windows[hour]
            if hour < last_hour:
                due += bucket
                del self._windows[hour]
                continue
            ripe = [key for key, minute in bucket.items() if minute <= last_minute]
            for key in ripe:
                del bucket[key]
            if not bucket:
                del self._windows[hour]
            due += ripe
        return due

    def customers_before(self, horizon: int) -> list[str]:
        """The customers that may have a contact whose last event is before `horizon`: all
        that do, and some of the hour `horizon` falls in that do not."""
        last_hour = (horizon - 1) // HOUR_MS
        return [key for hour, bucket in self._customers.items() if hour <= last_hour
                for key in bucket]
