"""What is known about one contact, as a join-semilattice.

Every field is an idempotent, commutative merge (earliest-of, latest-of, union, or), so applying
the same events in any order, any number of times, yields the same `ContactFacts`. That property
is what makes arrival order and re-delivery harmless; `docs/metrics.md` turns facts into metrics.

"Earliest"/"latest" compare `(ts, event_id)`, so two events at the same millisecond still have
one deterministic winner.
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

import orjson

from sqm.streams.core.records import (
    ABANDONED,
    ASSIGNED,
    CREATED,
    MESSAGE,
    QUEUED,
    REOPENED,
    RESOLVED,
    STATUS,
    SURVEY,
    TRANSFERRED,
    EventRecord,
)

T = TypeVar("T")
# The value of the sets most contacts never fill (reopens, transfers, statuses) until they do:
# one shared immutable empty set instead of ~200 bytes and one more object per contact.
EMPTY: frozenset[Any] = frozenset()


def _with(items: Set[T], item: T) -> Set[T]:
    """`items` and `item`: added in place into a set of the contact's own, else (`EMPTY`, or a
    frozen set after a merge) copied into one."""
    if type(items) is set:
        items.add(item)
        return items
    return {*items, item}


def _own(items: list[Any]) -> Set[Any]:
    return set(items) if items else EMPTY


# A "mark" is (ts, event_id, *payload); only (ts, event_id) is compared.
Mark = tuple[Any, ...]
# Positions in the `created` mark (a tuple: it is compared, copied and encoded by the million).
(CREATED_TS, CREATED_ID, CREATED_CHANNEL, CREATED_QUEUE, CREATED_PRIORITY, CREATED_ORDER_ID,
 CREATED_TOPIC) = range(7)


def earliest(a: Mark | None, b: Mark | None) -> Mark | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a[:2] <= b[:2] else b


def latest(a: Mark | None, b: Mark | None) -> Mark | None:
    if a is None:
        return b
    if b is None:
        return a
    return a if a[:2] >= b[:2] else b


@dataclass(slots=True)
class ContactFacts:
    tenant_id: str
    contact_id: str
    customer_id: str
    event_ids: set[str] = field(default_factory=set)
    first: Mark | None = None  # (ts, id, channel): earliest event of any type
    last_ts: int = 0  # latest event time of any type
    created: Mark | None = None  # (ts, id, channel, queue, priority, order_id, topic)
    queued: Mark | None = None  # (ts, id, queue): earliest contact.queued
    answer: Mark | None = None  # (ts, id, agent_id): earliest public human-agent message
    abandoned: Mark | None = None  # (ts, id): earliest contact.abandoned
    first_resolved: Mark | None = None  # (ts, id, resolved_by)
    last_resolved: Mark | None = None  # (ts, id, resolved_by)
    last_reopened: Mark | None = None  # (ts, id)
    to_human: bool = False  # any transfer to a human
    survey: Mark | None = None  # (ts, id, csat, nps, ((dimension, 1-5), ...)): latest survey
    reopens: Set[str] = EMPTY  # event ids of contact.reopened
    transfers: Set[str] = EMPTY  # event ids of contact.transferred
    bot_answer: Mark | None = None  # (ts, id, agent_id): earliest public bot message
    handoff: Mark | None = None  # (ts, id): earliest transfer to a human
    human_assigned: Mark | None = None  # (ts, id, agent_id): earliest assignment to a human
    # Public messages as (ts, id, sender): next-response times need the whole conversation.
    messages: set[tuple[int, str, str]] = field(default_factory=set)
    statuses: Set[tuple[int, str, str]] = EMPTY  # (ts, id, status)
    # `to_state()` as JSON, kept until the next change: a customer's changelog record holds
    # all its contacts, and most of them did not change since it was last written.
    _json: bytes | None = field(default=None, compare=False, repr=False)

    def apply(self, e: EventRecord) -> bool:
        """Merge one event; False when it was already merged (a duplicate)."""
        if e.event_id in self.event_ids:
            return False
        self.add(e)
        return True

    def add(self, e: EventRecord) -> None:
        """Merge an event not merged yet (`apply` without its duplicate check, for a caller
        that made it already)."""
        self._json = None
        ts, eid = e.ts, e.event_id
        self.event_ids.add(eid)
        # `earliest` and `max`, inline and without tuples to compare: this runs for every event.
        first = self.first
        if first is None or ts < first[0] or (ts == first[0] and eid < first[1]):
            self.first = (ts, eid, e.channel)
        if ts > self.last_ts:
            self.last_ts = ts
        # Most frequent types first.
        t = e.type
        if t == MESSAGE:
            # Only a public message from a human agent answers; bots and notes never do
            # (a policy may let bot replies stop the SLA clock: derive decides).
            if e.public is not False:
                sender = e.sender or "customer"
                self.messages.add((ts, eid, sender))
                if sender == "agent":
                    self.answer = earliest(self.answer, (ts, eid, e.agent_id))
                elif sender == "bot":
                    self.bot_answer = earliest(self.bot_answer, (ts, eid, e.agent_id))
        elif t == ASSIGNED:
            if e.agent_kind == "human":
                self.human_assigned = earliest(self.human_assigned, (ts, eid, e.agent_id))
        elif t == CREATED:
            queue, priority = e.queue or "", e.priority or "normal"
            created = (ts, eid, e.channel, queue, priority, e.order_id, e.topic)
            self.created = earliest(self.created, created)
        elif t == RESOLVED:
            resolution = (ts, eid, e.resolved_by)
            self.first_resolved = earliest(self.first_resolved, resolution)
            self.last_resolved = latest(self.last_resolved, resolution)
        elif t == QUEUED:
            self.queued = earliest(self.queued, (ts, eid, e.queue or ""))
        elif t == SURVEY:
            ratings = tuple(sorted(e.ratings.items())) if e.ratings else ()
            self.survey = latest(self.survey, (ts, eid, e.csat, e.nps, ratings))
        elif t == STATUS:
            self.statuses = _with(self.statuses, (ts, eid, e.status or ""))
        elif t == ABANDONED:
            self.abandoned = earliest(self.abandoned, (ts, eid))
        elif t == TRANSFERRED:
            if e.to_kind == "human":
                self.to_human = True
                self.handoff = earliest(self.handoff, (ts, eid))
            self.transfers = _with(self.transfers, eid)
        elif t == REOPENED:
            self.last_reopened = latest(self.last_reopened, (ts, eid))
            self.reopens = _with(self.reopens, eid)

    def merge(self, other: ContactFacts) -> None:
        """Join with another view of the same contact (used by tests and state migration)."""
        self._json = None
        self.event_ids |= other.event_ids
        self.first = earliest(self.first, other.first)
        self.last_ts = max(self.last_ts, other.last_ts)
        self.created = earliest(self.created, other.created)
        self.queued = earliest(self.queued, other.queued)
        self.answer = earliest(self.answer, other.answer)
        self.abandoned = earliest(self.abandoned, other.abandoned)
        self.first_resolved = earliest(self.first_resolved, other.first_resolved)
        self.last_resolved = latest(self.last_resolved, other.last_resolved)
        self.last_reopened = latest(self.last_reopened, other.last_reopened)
        self.to_human = self.to_human or other.to_human
        self.survey = latest(self.survey, other.survey)
        self.reopens |= other.reopens
        self.transfers |= other.transfers
        self.bot_answer = earliest(self.bot_answer, other.bot_answer)
        self.handoff = earliest(self.handoff, other.handoff)
        self.human_assigned = earliest(self.human_assigned, other.human_assigned)
        self.messages |= other.messages
        self.statuses |= other.statuses

    # -- state encoding (plain JSON-able lists; tuples come back as lists) --
    _MARKS = (
        "first", "created", "queued", "answer", "abandoned",
        "first_resolved", "last_resolved", "last_reopened", "survey",
    )
    _MARKS_2 = ("bot_answer", "handoff", "human_assigned")  # appended with SLA policies

    def to_state(self) -> list[Any]:
        return [
            self.tenant_id, self.contact_id, self.customer_id, sorted(self.event_ids),
            self.last_ts, self.to_human, list(_marks_of(self)),
            sorted(self.reopens), sorted(self.transfers),
            list(_marks_2_of(self)), sorted(self.messages), sorted(self.statuses),
        ]

    def state_json(self, keep: bool = True) -> orjson.Fragment:
        """`to_state()` encoded, from the cache when nothing changed since; `keep=False`
        leaves nothing cached (~700 bytes a contact)."""
        data = self._json
        if data is None:
            data = orjson.dumps(self.to_state())
        self._json = data if keep else None
        return orjson.Fragment(data)

    @classmethod
    def from_state(cls, s: list[Any]) -> ContactFacts:
        """Older states lack the trailing parts: what they did not track starts empty."""
        f = cls(s[0], s[1], s[2], set(s[3]), last_ts=s[4], to_human=s[5])
        if len(s) > 7:
            f.reopens, f.transfers = _own(s[7]), _own(s[8])
        marks = list(zip(cls._MARKS, s[6], strict=True))
        if len(s) > 9:
            marks += zip(cls._MARKS_2, s[9], strict=True)
            f.messages = {(m[0], m[1], m[2]) for m in s[10]}
            f.statuses = _own([(m[0], m[1], m[2]) for m in s[11]])
        for name, mark in marks:
            setattr(f, name, tuple(mark) if mark is not None else None)
        return f


_marks_of = attrgetter(*ContactFacts._MARKS)  # one C call instead of a getattr per mark
_marks_2_of = attrgetter(*ContactFacts._MARKS_2)
