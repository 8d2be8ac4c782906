"""The ingest stage's floor for absurd past times (`SQM_MAX_PAST_DAYS`, docs/metrics.md).

An event more than `max_past_days` whole days before the wall clock at ingest is dead-lettered
with one readable line; 0 disables the rule. Day counts below are worked out by hand from the
wall clock 2026-12-04T13:30:00Z:
- 1970-01-01 → 2026-01-01: 56 years, 14 of them leap (1972 … 2024): 56 × 365 + 14 = 20,454
  days; January to November 2026: 334 days; 2026-12-04: 20,454 + 334 + 3 = 20,791 days;
- 2010-06-15: 40 × 365 + 10 leap days (1972 … 2008) = 14,610 to 2010-01-01, + 151 + 14 =
  14,775; so 20,791 − 14,775 = 6,016 days (06:00 UTC is before 13:30);
- 2000-01-01: 30 × 365 + 7 = 10,957; from 1999-12-31T23:59:59.123Z it is 9,834 days and
  13 h 30 min 0.877 s: 9,834 whole days.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest

from sqm.schemas.events import epoch_ms, parse_occurred_at
from sqm.streams.config import ConfigError, load_settings
from sqm.streams.core.ingest_batch import DAY_MS, RoutedBatch, route_batch
from tests.events import ms

NOW = ms("2026-12-04T13:30:00+00:00")
MAX_FUTURE_S = 86_400
HORIZON = NOW + MAX_FUTURE_S * 1000


def event(occurred_at: str, i: int = 0) -> bytes:
    return orjson.dumps({
        "event_id": f"e{i}", "type": "contact.created", "schema_version": 1,
        "occurred_at": occurred_at, "tenant_id": "t1", "contact_id": f"c{i}",
        "customer_id": "u1", "channel": "chat", "queue": "billing"})


def route(occurred_at: str, max_past_days: int = 3660) -> RoutedBatch:
    return route_batch([event(occurred_at)], [0], 4, HORIZON, MAX_FUTURE_S, max_past_days)


def reason(occurred_at: str, max_past_days: int = 3660) -> str | None:
    routed = route(occurred_at, max_past_days)
    if not routed.rejections:
        assert routed.forwarded == 1
        return None
    [(index, rejection)] = routed.rejections
    assert index == 0 and rejection.event_id == "e0" and rejection.tenant_id == "t1"
    return rejection.reason


@pytest.mark.parametrize(("occurred_at", "max_days", "expected"), [
    ("1970-01-01T00:00:00Z", 3660,
     "occurred_at 1970-01-01T00:00:00Z is 20,791 days in the past (at most 3,660 allowed)"),
    ("2010-06-15T08:00:00+02:00", 3660,  # shown in UTC
     "occurred_at 2010-06-15T06:00:00Z is 6,016 days in the past (at most 3,660 allowed)"),
    ("1999-12-31T23:59:59.123Z", 1000,
     "occurred_at 1999-12-31T23:59:59.123Z is 9,834 days in the past (at most 1,000 allowed)"),
])
def test_the_reason_is_one_readable_line(occurred_at: str, max_days: int, expected: str) -> None:
    assert reason(occurred_at, max_days) == expected


def at(delta_ms: int) -> str:
    """The RFC 3339 text of NOW + delta_ms."""
    moment = datetime.fromtimestamp(NOW / 1000, UTC) + timedelta(milliseconds=delta_ms)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_limit_is_in_whole_days() -> None:
    """3,660 days and 23:59:59.999 before the wall clock is 3,660 whole days: allowed; one
    millisecond more is 3,661 days: refused."""
    assert reason(at(-3660 * DAY_MS)) is None
    assert reason(at(-3661 * DAY_MS + 1)) is None
    # 2016-12-04 → 2026-12-04 holds 2020-02-29 and 2024-02-29: 3,652 days; 9 more back.
    assert reason(at(-3661 * DAY_MS)) == (
        "occurred_at 2016-11-25T13:30:00Z is 3,661 days in the past (at most 3,660 allowed)")
    assert reason(at(-1 * DAY_MS), max_past_days=1) is None
    assert reason(at(-2 * DAY_MS), max_past_days=1) is not None


def test_zero_disables_it_and_the_future_limit_still_applies() -> None:
    assert reason("1970-01-01T00:00:00Z", 0) is None
    assert reason("0001-01-01T00:00:00Z", 0) is None
    assert reason(at(MAX_FUTURE_S * 1000 + 1000), 0) == (
        "occurred_at is 86401 s in the future (at most 86400 s allowed)")
    assert reason(at(MAX_FUTURE_S * 1000 + 1000)) == (
        "occurred_at is 86401 s in the future (at most 86400 s allowed)")


def test_a_2017_event_passes_the_default_floor() -> None:
    """The rule is a safety net for placeholder dates; a wrong year within ten years passes
    and the alert stage must bound its cost itself (test_hostile_times.py)."""
    assert reason("2017-05-01T08:00:00Z") is None


def test_a_time_in_year_0_in_utc_still_gets_a_reason() -> None:
    """0001-01-01T00:00:00+01:00 is valid RFC 3339 but has no UTC datetime."""
    ts = epoch_ms(parse_occurred_at("0001-01-01T00:00:00+01:00"))
    days = (NOW - ts) // DAY_MS
    assert reason("0001-01-01T00:00:00+01:00") == (
        f"occurred_at before 0001-01-01T00:00:00Z is {days:,} days in the past "
        "(at most 3,660 allowed)")


def test_the_rejected_are_left_out_and_the_rest_forwarded_in_order() -> None:
    values = [event("2026-12-04T13:00:00Z", 0), event("1970-01-01T00:00:00Z", 1),
              event("2026-12-04T13:01:00Z", 2)]
    routed = route_batch(values, [0, 0, 0], 1, HORIZON, MAX_FUTURE_S, 3660)
    assert [i for i, _ in routed.rejections] == [1]
    assert routed.forwarded == 2
    [(_, _, chunk)] = routed.chunks
    assert [e[0] for e in orjson.loads(chunk)["events"]] == ["e0", "e2"]


def test_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SQM_CONFIG", raising=False)
    monkeypatch.delenv("SQM_MAX_PAST_DAYS", raising=False)
    assert load_settings().max_past_days == 3660
    monkeypatch.setenv("SQM_MAX_PAST_DAYS", "0")
    assert load_settings().max_past_days == 0
    monkeypatch.setenv("SQM_MAX_PAST_DAYS", "-1")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value) == (
        "config: max_past_days: Input should be greater than or equal to 0")
    monkeypatch.setenv("SQM_MAX_PAST_DAYS", "ten years")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith("config: max_past_days: ")
