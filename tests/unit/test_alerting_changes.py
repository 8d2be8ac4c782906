"""Alert change helpers: times written for a person."""

from __future__ import annotations

import random

from sqm.streams.core.alerting.changes import iso, to_datetime
from tests.events import ms


def test_iso_is_the_utc_datetimes_text() -> None:
    rng = random.Random(5)
    t0 = ms("2026-03-02T01:08:00+00:00")
    assert iso(t0) == "2026-03-02T01:08:00Z" and iso(t0 + 7) == "2026-03-02T01:08:00.007Z"
    for value in [0, -1, -999, -1000, -1001, 999, 1000, *(rng.randrange(-10**13, 10**14)
                                                         for _ in range(2000))]:
        text = to_datetime(value).strftime("%Y-%m-%dT%H:%M:%S")
        fraction = f".{value % 1000:03d}" if value % 1000 else ""
        assert iso(value) == f"{text}{fraction}Z", value
