"""Business-hours calendars (streams/core/calendar.py): hand-worked examples and properties.

Every expected instant below is worked out by hand in docs/policies.md; times are written with
their local offset so the arithmetic can be checked by eye.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sqm.streams.core.calendar import (
    ALWAYS_OPEN,
    AlwaysOpen,
    BusinessCalendar,
    format_interval,
    parse_interval,
    parse_time,
)
from tests.events import ms

H = 3_600_000
MIN = 60_000
NINE_TO_SIX = [(9 * 60, 18 * 60)]
LUNCH = [(9 * 60, 12 * 60), (13 * 60, 18 * 60)]


def weekdays(hours: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    return [hours] * 5 + [[], []]


def local(t: int, cal: BusinessCalendar) -> str:
    return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t)).astimezone(
        cal.zone
    ).isoformat()


SHANGHAI = BusinessCalendar("Asia/Shanghai", weekdays(NINE_TO_SIX))
BERLIN = BusinessCalendar("Europe/Berlin", weekdays(NINE_TO_SIX))


# --- the example and its variations ---------------------------------------------------


def test_friday_1750_shanghai_four_business_hours_is_monday_1250():
    start = ms("2025-06-06T17:50:00+08:00")  # a Friday
    due = SHANGHAI.add_business_ms(start, 4 * H)
    # Friday 17:50-18:00 = 10 min; Monday 09:00 + 3 h 50 min = 12:50.
    assert due == ms("2025-06-09T12:50:00+08:00")
    assert SHANGHAI.business_ms_between(start, due) == 4 * H
    assert SHANGHAI.business_ms_between(start, ms("2025-06-09T09:00:00+08:00")) == 10 * MIN


def test_holiday_on_monday_pushes_it_to_tuesday():
    cal = BusinessCalendar("Asia/Shanghai", weekdays(NINE_TO_SIX), holidays=[date(2025, 6, 2)])
    start = ms("2025-05-30T17:50:00+08:00")  # Friday before Dragon Boat Monday, 2 June 2025
    assert cal.add_business_ms(start, 4 * H) == ms("2025-06-03T12:50:00+08:00")
    assert not cal.is_open(ms("2025-06-02T10:00:00+08:00"))
    # Only the 10 minutes on Friday count until Tuesday opens.
    assert cal.business_ms_between(start, ms("2025-06-03T09:00:00+08:00")) == 10 * MIN


def test_start_on_saturday_counts_from_monday_0900():
    start = ms("2025-06-07T10:00:00+08:00")
    assert SHANGHAI.add_business_ms(start, 4 * H) == ms("2025-06-09T13:00:00+08:00")
    assert SHANGHAI.business_ms_between(start, ms("2025-06-09T09:00:00+08:00")) == 0


def test_start_before_opening_counts_from_opening():
    start = ms("2025-06-10T07:15:00+08:00")  # a Tuesday
    assert SHANGHAI.add_business_ms(start, 30 * MIN) == ms("2025-06-10T09:30:00+08:00")


def test_lunch_break_is_not_business_time():
    cal = BusinessCalendar("Asia/Shanghai", weekdays(LUNCH))
    # Tuesday 11:00: 11-12 = 1 h, then 13:00 + 3 h = 16:00.
    assert cal.add_business_ms(ms("2025-06-10T11:00:00+08:00"), 4 * H) == ms(
        "2025-06-10T16:00:00+08:00"
    )
    # Friday 17:50: 10 min, Monday 09-12 = 3 h, 13:00 + 50 min = 13:50.
    assert cal.add_business_ms(ms("2025-06-06T17:50:00+08:00"), 4 * H) == ms(
        "2025-06-09T13:50:00+08:00"
    )
    assert not cal.is_open(ms("2025-06-10T12:30:00+08:00"))
    # Amounts that end exactly at a close end there, not at the next opening.
    assert cal.add_business_ms(ms("2025-06-10T11:00:00+08:00"), H) == ms(
        "2025-06-10T12:00:00+08:00"
    )


def test_extra_working_day_is_open_with_its_own_hours():
    cal = BusinessCalendar(
        "Asia/Shanghai", weekdays(NINE_TO_SIX), extra_working_days={date(2025, 9, 28): LUNCH}
    )
    # Sunday 28 Sep 2025 is worked in China; Saturday 27 is not.
    assert cal.add_business_ms(ms("2025-09-27T12:00:00+08:00"), 4 * H) == ms(
        "2025-09-28T14:00:00+08:00"
    )
    assert cal.is_open(ms("2025-09-28T09:00:00+08:00"))


def test_is_open_is_closed_open():
    assert SHANGHAI.is_open(ms("2025-06-10T09:00:00+08:00"))
    assert SHANGHAI.is_open(ms("2025-06-10T17:59:59.999+08:00"))
    assert not SHANGHAI.is_open(ms("2025-06-10T18:00:00+08:00"))
    assert not SHANGHAI.is_open(ms("2025-06-10T08:59:59.999+08:00"))


def test_edges():
    t = ms("2025-06-10T10:00:00+08:00")
    assert SHANGHAI.add_business_ms(t, 0) == t
    assert SHANGHAI.business_ms_between(t, t) == 0
    assert SHANGHAI.business_ms_between(t + H, t) == 0  # end before start
    with pytest.raises(ValueError, match="≥ 0"):
        SHANGHAI.add_business_ms(t, -1)
    # 27 h = three 9-hour days, Tuesday 10:00 to Friday 10:00.
    assert SHANGHAI.add_business_ms(t, 27 * H) == ms("2025-06-13T10:00:00+08:00")
    # Three weeks = 15 working days of 9 h, weekends skipped.
    assert SHANGHAI.business_ms_between(t, ms("2025-07-01T10:00:00+08:00")) == 15 * 9 * H


# --- daylight saving time ------------------------------------------------------------------------


def test_dst_forward_berlin_hours_follow_local_clocks():
    # Friday 17:00 CET (16:00Z) + 2 business hours: 1 h on Friday, Monday 09:00 CEST (07:00Z)
    # + 1 h = 10:00 CEST = 08:00Z. 64 real hours later, not 65.
    start = ms("2025-03-28T17:00:00+01:00")
    due = BERLIN.add_business_ms(start, 2 * H)
    assert due == ms("2025-03-31T08:00:00Z")
    assert due - start == 64 * H


def test_dst_back_berlin_hours_follow_local_clocks():
    # Friday 17:00 CEST (15:00Z) + 2 h: Monday 10:00 CET = 09:00Z, 66 real hours later.
    start = ms("2025-10-24T17:00:00+02:00")
    due = BERLIN.add_business_ms(start, 2 * H)
    assert due == ms("2025-10-27T09:00:00Z")
    assert due - start == 66 * H


def test_dst_round_the_clock_local_calendar_counts_real_time():
    always = BusinessCalendar("Europe/Berlin", [[(0, 1440)]] * 7)
    # Sat 12:00 CET to Mon 12:00 CEST: Sunday 30 March 2025 has 23 hours, so 47 h.
    assert always.business_ms_between(
        ms("2025-03-29T12:00:00+01:00"), ms("2025-03-31T12:00:00+02:00")
    ) == 47 * H
    # Sunday 26 October 2025 has 25 hours.
    assert always.business_ms_between(
        ms("2025-10-25T12:00:00+02:00"), ms("2025-10-27T12:00:00+01:00")
    ) == 49 * H
    assert always.add_business_ms(ms("2025-03-29T12:00:00+01:00"), 48 * H) == ms(
        "2025-03-31T13:00:00+02:00"
    )


def test_dst_interval_spanning_the_change():
    night = BusinessCalendar("Europe/Berlin", [[(0, 6 * 60)]] * 7)
    # 00:00-06:00 on 30 March: 00:00 CET = 23:00Z .. 06:00 CEST = 04:00Z: 5 h.
    assert night.utc_intervals(date(2025, 3, 30)) == (
        (ms("2025-03-29T23:00:00Z"), ms("2025-03-30T04:00:00Z")),
    )
    # 00:00-06:00 on 26 October: 00:00 CEST = 22:00Z .. 06:00 CET = 05:00Z: 7 h.
    assert night.utc_intervals(date(2025, 10, 26)) == (
        (ms("2025-10-25T22:00:00Z"), ms("2025-10-26T05:00:00Z")),
    )


def test_dst_skipped_and_repeated_opening_times():
    cal = BusinessCalendar("Europe/Berlin", [[(2 * 60 + 30, 4 * 60)]] * 7)
    # 02:30 does not exist on 30 March: it opens when clocks jump to 03:00 CEST (01:00Z).
    assert cal.utc_intervals(date(2025, 3, 30)) == (
        (ms("2025-03-30T01:00:00Z"), ms("2025-03-30T02:00:00Z")),
    )
    # 02:30 happens twice on 26 October: it opens at the first (02:30 CEST = 00:30Z) and
    # closes at 04:00 CET (03:00Z): 2 h 30 min.
    assert cal.utc_intervals(date(2025, 10, 26)) == (
        (ms("2025-10-26T00:30:00Z"), ms("2025-10-26T03:00:00Z")),
    )
    inside_gap = BusinessCalendar("Europe/Berlin", [[(2 * 60 + 10, 2 * 60 + 50)]] * 7)
    assert inside_gap.utc_intervals(date(2025, 3, 30)) == ()  # wholly skipped: empty


def test_dst_new_york():
    ny = BusinessCalendar("America/New_York", weekdays(NINE_TO_SIX))
    # Friday 7 March 2025 17:00 EST (22:00Z) + 2 h: Monday 10 March 10:00 EDT = 14:00Z.
    assert ny.add_business_ms(ms("2025-03-07T17:00:00-05:00"), 2 * H) == ms(
        "2025-03-10T14:00:00Z"
    )


def test_clocks_back_at_midnight_santiago():
    # Chile goes back from 24:00 -03 to 23:00 -04 on 5 April 2025: clocks first show 00:00 on
    # 6 April after the repeated hour, so 5 April's 00:00-24:00 interval is 25 hours long.
    always = BusinessCalendar("America/Santiago", [[(0, 1440)]] * 7)
    start, end = ms("2025-04-05T22:00:00-03:00"), ms("2025-04-06T02:00:00-04:00")
    assert always.business_ms_between(start, end) == end - start == 5 * H
    assert always.is_open(ms("2025-04-05T23:30:00-04:00"))
    assert always.utc_intervals(date(2025, 4, 5)) == (
        (ms("2025-04-05T00:00:00-03:00"), ms("2025-04-06T00:00:00-04:00")),
    )


# --- properties ----------------------------------------------------------------------------------

RANGE = (ms("2024-01-01T00:00:00Z"), ms("2027-01-01T00:00:00Z"))
HOLIDAYS = [date(2025, 12, 25), date(2025, 12, 26), date(2026, 4, 6), date(2025, 10, 27)]
# Sunday night hours cross both Berlin DST changes: skipped and repeated wall times.
ODD = BusinessCalendar(
    "Europe/Berlin",
    [LUNCH] * 5 + [[(10 * 60, 14 * 60)], [(30, 3 * 60 + 30), (22 * 60, 24 * 60)]],
    holidays=HOLIDAYS,
    extra_working_days={date(2026, 1, 4): [(0, 1440)]},
)
CALENDARS = [
    ODD,
    BusinessCalendar("America/New_York", weekdays(NINE_TO_SIX), holidays=HOLIDAYS),
    BusinessCalendar("Asia/Shanghai", weekdays(LUNCH), holidays=HOLIDAYS),
]
instants = st.integers(*RANGE)
amounts = st.integers(0, 200 * H)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), instants, amounts)
def test_add_then_between_is_identity(cal, start, amount):
    due = cal.add_business_ms(start, amount)
    assert due >= start
    assert cal.business_ms_between(start, due) == amount
    if amount > 0:  # the earliest such instant: one ms less is not enough
        assert cal.business_ms_between(start, due - 1) == amount - 1


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CALENDARS), instants, st.integers(0, 30 * 24 * H))
def test_between_then_add_lands_at_or_before_end(cal, start, span):
    end = start + span
    elapsed = cal.business_ms_between(start, end)
    due = cal.add_business_ms(start, elapsed)
    assert due <= end
    assert cal.business_ms_between(due, end) == 0
    if elapsed and cal.is_open(end - 1):
        assert due == end


@settings(max_examples=100, deadline=None)
@given(instants, st.integers(0, 30 * 24 * H), st.sampled_from(["Europe/Berlin", "America/Santiago",
                                                               "Australia/Lord_Howe"]))
def test_round_the_clock_local_calendar_is_real_time(start, span, zone):
    always = BusinessCalendar(zone, [[(0, 1440)]] * 7)
    assert always.business_ms_between(start, start + span) == span
    assert always.add_business_ms(start, span) == start + span


def _reference_minutes(cal: BusinessCalendar, start: int, end: int) -> int:
    """Business minutes by brute force: is each minute's local wall time inside the hours?"""
    count = 0
    for t in range(start, end, MIN):
        wall = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t)).astimezone(cal.zone)
        hours = cal.special.get(wall.date(), cal.weekly[wall.weekday()])
        minute = wall.hour * 60 + wall.minute
        count += any(a <= minute < b for a, b in hours)
    return count


# Daytime hours only: where no interval touches a DST change, "first time clocks show" and
# "local wall time is inside" agree, so a per-minute wall-clock check is an exact reference.
DAYTIME = [
    *CALENDARS[1:],
    BusinessCalendar("Europe/Berlin", [LUNCH] * 6 + [[]], holidays=HOLIDAYS),
]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(DAYTIME), st.integers(RANGE[0] // MIN, RANGE[1] // MIN),
       st.integers(0, 6 * 24 * 60))
def test_between_matches_brute_force(cal, start_min, span_min):
    start, end = start_min * MIN, (start_min + span_min) * MIN
    assert cal.business_ms_between(start, end) == _reference_minutes(cal, start, end) * MIN


def test_always_open():
    assert isinstance(ALWAYS_OPEN, AlwaysOpen)
    assert ALWAYS_OPEN.business_ms_between(5, 12) == 7
    assert ALWAYS_OPEN.business_ms_between(12, 5) == 0
    assert ALWAYS_OPEN.add_business_ms(5, 7) == 12
    assert ALWAYS_OPEN.is_open(0)


# --- validation ----------------------------------------------------------------------------------


def test_parse_and_format():
    assert parse_time("00:00") == 0 and parse_time("24:00") == 1440
    assert parse_interval("09:00-12:30") == (540, 750)
    assert format_interval((540, 1440)) == "09:00-24:00"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("25:00-26:00", "bad time '25:00'"),
        ("09:60-10:00", "bad time '09:60'"),
        ("9:00-10:00", "bad time '9:00'"),
        ("24:30-24:40", "bad time '24:30'"),
        ("0900-1000", "bad time '0900'"),
        ("09:00", "bad interval"),
        ("18:00-09:00", "must end after it starts"),
        ("09:00-09:00", "must end after it starts"),
    ],
)
def test_bad_intervals(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_interval(text)


def test_bad_calendars():
    with pytest.raises(ValueError, match="overlapping intervals 09:00-12:00 and 11:00-13:00"):
        BusinessCalendar("UTC", [[(540, 720), (660, 780)]] * 7)
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        BusinessCalendar("Mars/Olympus", weekdays(NINE_TO_SIX))
    with pytest.raises(ValueError, match="never open"):
        BusinessCalendar("UTC", [[]] * 7)
    with pytest.raises(ValueError, match="7 days"):
        BusinessCalendar("UTC", [NINE_TO_SIX] * 5)
    with pytest.raises(ValueError, match="2025-06-02 is both"):
        BusinessCalendar("UTC", weekdays(NINE_TO_SIX), holidays=[date(2025, 6, 2)],
                         extra_working_days={date(2025, 6, 2): NINE_TO_SIX})
    # Touching intervals are fine.
    BusinessCalendar("UTC", [[(540, 720), (720, 780)]] * 7)
