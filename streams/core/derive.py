"""Contact facts → the contact's metrics (the definitions of docs/metrics.md, in code).

Everything here is a pure function of `ContactFacts`, the contact's repeat flag and the policy,
so a contact's row never depends on the order its events arrived in.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from sqm.streams.core.facts import (
    CREATED_CHANNEL,
    CREATED_ORDER_ID,
    CREATED_PRIORITY,
    CREATED_QUEUE,
    CREATED_TOPIC,
    CREATED_TS,
    ContactFacts,
    earliest,
)
from sqm.streams.core.policy_file import Policy
from sqm.streams.core.sla_clock import due_ms, elapsed_ms, next_responses, pauses


class ContactView(NamedTuple):
    """One contact's metrics; times are epoch ms UTC, None where unknown.

    A named tuple rather than a frozen dataclass: the shard derives one or two views per event
    and compares old with new, and a tuple is ~10x cheaper to build and ~5x to compare. Fields
    are named like the `sqm.contacts` columns, so rows.py can transpose views into columns.
    """

    tenant_id: str
    contact_id: str
    customer_id: str
    channel: str
    queue: str
    priority: str
    order_id: str | None
    topic: str | None
    created_at: int | None
    queued_at: int | None  # clock start: earliest contact.queued, else created_at
    has_queued: bool  # a contact.queued exists (it was offered to humans)
    answered_at: int | None
    first_agent_id: str | None
    abandoned_at: int | None
    wait_ms: int | None
    sla_target_s: int
    answered_in_sla: bool | None
    is_abandoned: bool
    is_short_abandon: bool
    is_repeat: bool
    resolved_at: int | None
    resolved_by: str | None
    bot_contained: bool
    transferred_to_human: bool
    csat: int | None
    nps: int | None
    first_event_at: int
    last_event_at: int
    event_count: int
    first_resolved_at: int | None
    first_resolution_ms: int | None  # first resolution − created_at
    resolution_ms: int | None  # resolved_at (the current, final one) − created_at
    reopen_count: int
    transfer_count: int
    ratings: tuple[tuple[str, int], ...]  # the latest survey's dimension -> 1..5, sorted
    # SLA policy fields (docs/policies.md); times in the target's clock exclude pauses.
    sla_clock: str  # business | calendar: how the first-response target counts
    sla_start_at: int | None  # the first-response clock start (policy `clock.start`)
    sla_due_at: int | None  # when the first response is due; None while paused or no start
    first_response_ms: int | None  # sla_start_at → answered_at in the target's clock
    sla_outcome: str | None  # met | missed | excluded, None while open (no reply, no abandon)
    next_response_count: int  # completed next responses (customer message → reply)
    next_response_sum_ms: int  # their total, in the next-response target's clock
    next_response_max_ms: int | None
    next_response_missed: int | None  # how many exceeded the target; None without a target
    resolution_target_s: int | None
    resolution_in_sla: bool | None  # created → final resolution within target; None if open
    handle_ms: int | None  # first human assignment (else answer) → final resolution
    surveyed_at: int | None  # the latest survey's time (CSAT counts in its minute)
    policy_version: str

    @property
    def clock_started(self) -> bool:
        """SLA counting needs a clock start; contacts without one stay out of the rollups."""
        return self.queued_at is not None


def derive(f: ContactFacts, is_repeat: bool, policy: Policy) -> ContactView:
    created = f.created
    channel = created[CREATED_CHANNEL] if created else (f.first[2] if f.first else "")
    queue = f.queued[2] if f.queued else (created[CREATED_QUEUE] if created else "")
    priority = created[CREATED_PRIORITY] if created else "normal"
    created_at = created[CREATED_TS] if created else None
    queued_at = f.queued[0] if f.queued else created_at
    targets = policy.targets_for(f.tenant_id, channel, priority, queue)
    clock, sl, fr = targets.clock, targets.service_level, targets.first_response

    # The reply that stops the clock: a public human message; a bot's too if the policy says so.
    reply = earliest(f.answer, f.bot_answer) if clock.stop_on_bot_reply else f.answer
    answer_ts = reply[0] if reply else None
    # Abandoned iff the customer left before that reply (a tie counts as answered).
    is_abandoned = f.abandoned is not None and (answer_ts is None or f.abandoned[0] < answer_ts)
    answered_at = None if is_abandoned else answer_ts
    abandoned_at = f.abandoned[0] if (is_abandoned and f.abandoned) else None

    start = _clock_start(f, clock.start, created_at, queued_at)
    paused = pauses(f.statuses, clock.pause_states) if clock.pause_states and f.statuses else ()
    cal = fr.calendar

    wait_ms = first_ms = in_sla = outcome = None
    if answered_at is not None and queued_at is not None:
        # An answer logged before the clock start is a data error; it counts as instant.
        wait_ms = max(0, answered_at - queued_at)
    if answered_at is not None and start is not None:
        first_ms = elapsed_ms(cal, start, answered_at, paused)
        in_sla = sl.within(first_ms, fr.seconds)
        outcome = "met" if in_sla else "missed"
    is_short = False
    if abandoned_at is not None and start is not None:
        is_short = sl.is_short_abandon(abandoned_at - start)
        outcome = sl.abandon_outcome(
            max(0, abandoned_at - start), elapsed_ms(cal, start, abandoned_at, paused), fr.seconds)
    due = due_ms(cal, start, fr.seconds * 1000, paused) if start is not None else None

    resolved = _resolved(f)
    resolved_by = resolved[2] if resolved else None
    bot_contained = resolved_by == "bot" and f.answer is None and not f.to_human
    first_resolved_at = f.first_resolved[0] if f.first_resolved else None
    resolved_at = resolved[0] if resolved else None

    nr = targets.next_response
    nr_count, nr_sum, nr_max, nr_missed = (0, 0, None, None if nr is None else 0)
    if reply is not None and answered_at is not None and len(f.messages) > 2:
        nr_count, nr_sum, nr_max, nr_missed = _next_responses(
            f, reply, ("agent", "bot") if clock.stop_on_bot_reply else ("agent",),
            nr.calendar if nr is not None else cal, paused, sl,
            nr.seconds if nr is not None else None)

    res = targets.resolution
    res_in_sla = None
    if res is not None and resolved_at is not None and created_at is not None:
        res_in_sla = sl.within(elapsed_ms(res.calendar, created_at, resolved_at, paused),
                               res.seconds)
    handle_from = f.human_assigned or f.answer
    handle_ms = None
    if resolved_at is not None and handle_from is not None:
        handle_ms = max(0, resolved_at - handle_from[0])
    # `_since`, inline (two calls a view): an end logged before the start counts as 0.
    first_resolution_ms = resolution_ms = None
    if created_at is not None:
        if first_resolved_at is not None:
            first_resolution_ms = max(0, first_resolved_at - created_at)
        if resolved_at is not None:
            resolution_ms = max(0, resolved_at - created_at)
    survey, first = f.survey, f.first

    # Positional `_make` skips the generated keyword __new__ (~4x cheaper); keep field order.
    return ContactView._make((
        f.tenant_id,
        f.contact_id,
        f.customer_id,
        channel,
        queue,
        priority,
        created[CREATED_ORDER_ID] if created else None,
        created[CREATED_TOPIC] if created else None,
        created_at,
        queued_at,
        f.queued is not None,  # has_queued
        answered_at,
        reply[2] if (reply and answered_at is not None) else None,  # first_agent_id
        abandoned_at,
        wait_ms,
        fr.seconds,  # sla_target_s
        in_sla,
        is_abandoned,
        is_short,
        is_repeat,
        resolved_at,
        resolved_by,
        bot_contained,
        f.to_human,  # transferred_to_human
        survey[2] if survey else None,  # csat
        survey[3] if survey else None,  # nps
        first[0] if first else f.last_ts,  # first_event_at
        f.last_ts,  # last_event_at
        len(f.event_ids),  # event_count
        first_resolved_at,
        first_resolution_ms,
        resolution_ms,
        len(f.reopens),  # reopen_count
        len(f.transfers),  # transfer_count
        _ratings(survey) if survey else (),
        fr.clock,  # sla_clock
        start,  # sla_start_at
        due,  # sla_due_at
        first_ms,  # first_response_ms
        outcome,  # sla_outcome
        nr_count,
        nr_sum,
        nr_max,
        nr_missed,
        res.seconds if res is not None else None,  # resolution_target_s
        res_in_sla,
        handle_ms,
        survey[0] if survey else None,  # surveyed_at
        targets.policy_version,
    ))


def _clock_start(f: ContactFacts, start: str, created_at: int | None,
                 queued_at: int | None) -> int | None:
    """When the first-response clock starts, as the policy's clock rule says."""
    if start == "created":
        return created_at
    if start == "bot_handoff" and f.handoff is not None:
        return int(f.handoff[0])
    return queued_at


def _resolved(f: ContactFacts) -> Any:
    """The resolution in force: the latest one, unless a reopen came after it."""
    resolved = f.last_resolved
    if resolved is not None and f.last_reopened is not None and f.last_reopened[:2] > resolved[:2]:
        return None
    return resolved


def _next_responses(f: ContactFacts, reply: Any, repliers: tuple[str, ...], calendar: Any,
                    paused: Any, sl: Any, target_s: int | None
                    ) -> tuple[int, int, int | None, int | None]:
    """(count, total ms, longest ms, missed) of customer message -> next reply after the first
    reply; missed only under a next-response target (None without one)."""
    count = total = 0
    longest: int | None = None
    missed: int | None = None if target_s is None else 0
    for asked, replied in next_responses(f.messages, (reply[0], reply[1]), repliers):
        ms = elapsed_ms(calendar, asked, replied, paused)
        count += 1
        total += ms
        longest = ms if longest is None or ms > longest else longest
        if target_s is not None and not sl.within(ms, target_s):
            missed = (missed or 0) + 1
    return count, total, longest, missed


def _ratings(survey: tuple[object, ...] | None) -> tuple[tuple[str, int], ...]:
    # Restored from the changelog the pairs come back as lists; a survey mark written before
    # ratings were kept has none.
    if survey is None or len(survey) < 5 or not survey[4]:
        return ()
    return tuple((str(k), int(v)) for k, v in survey[4])  # type: ignore[attr-defined]

