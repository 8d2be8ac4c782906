"""SLA clock arithmetic: elapsed and due times in a target's clock, with pauses.

A clock counts the target's time (business hours or plain calendar time, `calendar.py`) except
while the contact is in one of the policy's pause states (docs/policies.md). Everything is a
pure function of millisecond timestamps (epoch ms UTC).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqm.streams.core.calendar import Calendar

# [start, end) of a pause; end None: still paused.
Pause = tuple[int, int | None]
# (ts, event_id, sender) of one public message.
Message = tuple[int, str, str]


def pauses(statuses: Iterable[tuple[int, str, str]], pause_states: Collection[str]
           ) -> tuple[Pause, ...]:
    """The intervals spent in a pause state. A status holds until the next status change;
    statuses are ordered by (ts, event_id), so equal timestamps still have one order."""
    out: list[Pause] = []
    opened: int | None = None
    for ts, _, status in sorted(statuses):
        if status in pause_states:
            if opened is None:
                opened = ts
        elif opened is not None:
            out.append((opened, ts))
            opened = None
    if opened is not None:
        out.append((opened, None))
    return tuple(out)


def elapsed_ms(calendar: Calendar, start: int, end: int, paused: tuple[Pause, ...] = ()) -> int:
    """The clock's time in [start, end): the calendar's business time less the paused part."""
    total = calendar.business_ms_between(start, end)
    for lo, hi in paused:
        lo = max(lo, start)
        hi = end if hi is None else min(hi, end)
        if hi > lo:
            total -= calendar.business_ms_between(lo, hi)
    return total


def due_ms(calendar: Calendar, start: int, amount_ms: int, paused: tuple[Pause, ...] = ()
           ) -> int | None:
    """The earliest instant by which `amount_ms` of clock time has passed since `start`;
    None while a pause that has not ended stops the clock before then."""
    cursor, left = start, amount_ms
    for lo, hi in paused:
        if hi is not None and hi <= cursor:
            continue
        if lo > cursor:
            due = calendar.add_business_ms(cursor, left)
            if due <= lo:
                return due
            left -= calendar.business_ms_between(cursor, lo)
        if hi is None:
            return None
        cursor = max(cursor, hi)
    return calendar.add_business_ms(cursor, left)


def next_responses(messages: Iterable[Message], first_reply: tuple[int, str],
                   repliers: Collection[str]) -> list[tuple[int, int]]:
    """(customer message, reply) pairs after the first response: the first customer message
    after a reply starts a clock, the next reply (a sender in `repliers`) stops it. A customer
    message still waiting for its reply is not a pair yet."""
    out: list[tuple[int, int]] = []
    waiting: int | None = None
    for ts, eid, sender in sorted(messages):
        if (ts, eid) <= first_reply:
            continue
        if sender == "customer":
            if waiting is None:
                waiting = ts
        elif sender in repliers and waiting is not None:
            out.append((waiting, ts))
            waiting = None
    return out
