"""Pre-breach warnings per waiting contact (the queue gauges over the same contacts: gauges.py).

A contact waits from its SLA clock start until it is answered, abandoned or resolved. Its
timeline is fixed by its data: it breaches at its due time (`sla_due_at`: `start + target` in
calendar time; later across closed business hours and pauses) and is at risk once less than
`(1 − fraction) × target` of real time is left before it (`start + fraction × target` in
calendar time). While a pause state stops its clock it has no due time: no warning.
`evaluate(now)` emits every transition whose time has come, stamped with that time rather
than with `now`, so the alerts do not depend on how often the timer fires: ticking every
second or once per batch of a replay gives the same rows. With no new events at all, time
passing alone raises the warnings.

At-risk alert (kind `at_risk`): fires at the at-risk time; resolves when the contact stops
waiting, or at its breach time (the warning's job is over; the queue's `at_risk_count` and
service-level rules carry on). A contact first seen after its breach time gets no warning: too
late to act on. Optionally (`contact_breach`), a `breach` alert per contact from the breach
time until it stops waiting.

State by contact, for a changelog that writes only what changed: `entry_row(key)` is one
contact's row (None once it left), `take_changed()` the contacts changed since its last call,
`from_rows` restores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqm.streams.core.alerting.changes import (
    AT_RISK,
    BREACH,
    FIRING,
    RESOLVED,
    VERSIONS,
    AlertChange,
    alert_id,
    duration_text,
    iso,
)
from sqm.streams.core.alerting.gauges import LEGACY, WaitingGauges
from sqm.streams.core.alerting.rules import AtRiskConfig
from sqm.streams.core.derive import ContactView

STOP_REASONS = ("answered", "abandoned", "resolved", "expired")


@dataclass(frozen=True, slots=True)
class WaitingContact:
    tenant_id: str
    contact_id: str
    channel: str
    queue: str
    priority: str
    clock_start_ms: int
    target_s: int
    # When the first response is due (the view's sla_due_at); None while paused; LEGACY for a
    # contact recorded before due times were sent: start + target.
    due_ms: int | None = -1


_NEVER = 2**62  # a wake time: nothing is due until the entry changes


def waiting_contact(v: ContactView) -> WaitingContact | None:
    """The contact if it is waiting for a human now: offered to a queue and neither answered,
    abandoned nor resolved (a bot-contained contact never waited)."""
    if (not v.has_queued or v.queued_at is None or v.answered_at is not None
            or v.abandoned_at is not None or v.resolved_at is not None):
        return None
    start = v.sla_start_at if v.sla_start_at is not None else v.queued_at
    return WaitingContact(v.tenant_id, v.contact_id, v.channel, v.queue, v.priority,
                          start, v.sla_target_s, v.sla_due_at)


def stopped_waiting(v: ContactView) -> tuple[int, str]:
    """When and why a contact that is not waiting stopped (for `AtRiskTracker.stop`)."""
    # An if-chain: this runs for every changed contact of every batch (wire.alert_inputs).
    if v.answered_at is not None:
        return v.answered_at, "answered"
    if v.abandoned_at is not None:
        return v.abandoned_at, "abandoned"
    if v.resolved_at is not None:
        return v.resolved_at, "resolved"
    return v.last_event_at, "left the queue"


@dataclass(slots=True)
class TrackedContact:
    """A waiting contact as the tracker holds it: its interval and its warnings' state."""

    c: WaitingContact
    stop_ms: int | None = None  # when it stopped waiting, once known
    reason: str = ""
    risk_start: int | None = None  # the at-risk alert fired, with this started_at
    risk_done: bool = False
    breach_start: int | None = None
    breach_done: bool = False
    late_since: int | None = None  # first seen already past its target: the tracker's clock
    # Not stored: the earliest clock at which evaluate() can change this entry (None: unknown,
    # e.g. after it changed or was restored). Lets evaluate() skip the entries with nothing due.
    wake: int | None = None


class AtRiskTracker(WaitingGauges):
    def __init__(self, config: AtRiskConfig | None = None) -> None:
        self.config = config if config is not None else AtRiskConfig()
        self.entries: dict[tuple[str, str], TrackedContact] = {}
        self.now: int | None = None  # the clock of the last evaluate
        self._changed: set[tuple[str, str]] = set()  # since take_changed(), maybe unchanged

    def upsert(self, c: WaitingContact) -> None:
        """The contact is waiting (new, or its clock start or queue corrected)."""
        key = (c.tenant_id, c.contact_id)
        self._changed.add(key)
        e = self.entries.get(key)
        if e is not None:
            e.c, e.stop_ms, e.reason, e.wake = c, None, "", None
            return
        e = self.entries[key] = TrackedContact(c)
        breach = self.breach_at(c)
        if self.now is not None and breach is not None and self.now >= breach:
            e.risk_done, e.late_since = True, self.now

    def record(self, c: WaitingContact, stop: tuple[int, str] | None) -> None:
        """The contact's waiting interval as known now: its clock start and, once it stopped,
        when and why. Unlike `upsert`, nothing depends on the clock of the last evaluate, so a
        replay raises the same warnings however events were batched; a contact recorded again
        after it left the state repeats its changes with the same ids and versions
        (idempotent rows)."""
        key = (c.tenant_id, c.contact_id)
        self._changed.add(key)
        e = self.entries.get(key)
        if e is None:
            e = self.entries[key] = TrackedContact(c)
        else:
            e.c, e.wake = c, None
        if stop is not None and (e.stop_ms is None or stop[0] < e.stop_ms):
            e.stop_ms, e.reason = stop

    def stop(self, tenant_id: str, contact_id: str, at_ms: int, reason: str = "answered") -> None:
        """The contact stopped waiting at `at_ms` (event time); unknown contacts are ignored."""
        e = self.entries.get((tenant_id, contact_id))
        if e is not None and (e.stop_ms is None or at_ms < e.stop_ms):
            e.stop_ms, e.reason, e.wake = at_ms, reason, None
            self._changed.add((tenant_id, contact_id))

    def apply_view(self, v: ContactView) -> None:
        w = waiting_contact(v)
        if w is not None:
            self.upsert(w)
        else:
            self.stop(v.tenant_id, v.contact_id, *stopped_waiting(v))

    def evaluate(self, now_ms: int) -> list[AlertChange]:
        """Every transition due by `now_ms`; contacts that stopped waiting leave the state."""
        now = now_ms if self.now is None else max(now_ms, self.now)
        self.now = now
        out: list[AlertChange] = []
        entries = self.entries
        # In key order, as always; an entry whose next possible change is later is skipped.
        for key in sorted(k for k, e in entries.items() if e.wake is None or e.wake <= now):
            e = entries[key]
            end = self._end(e, now)
            before = (e.risk_start, e.risk_done, e.breach_start, e.breach_done)
            out += self._advance(e, now, end)
            if end is not None:
                del self.entries[key]
                self._changed.add(key)
                continue
            if before != (e.risk_start, e.risk_done, e.breach_start, e.breach_done):
                self._changed.add(key)
            e.wake = self._wake(e, now)
        return out

    def _wake(self, e: TrackedContact, now: int) -> int:
        """The earliest clock after `now` at which `_end` or `_advance` can change `e`: every
        transition happens at its risk point, its due time, its stop or its expiry."""
        c = e.c
        times = [c.clock_start_ms + self.config.max_wait, e.stop_ms, self.risk_at(c),
                 self.breach_at(c)]
        return min((t for t in times if t is not None and t > now), default=_NEVER)

    def _end(self, e: TrackedContact, now: int) -> tuple[int, str] | None:
        ends = [(e.c.clock_start_ms + self.config.max_wait, "expired")]
        if e.stop_ms is not None:
            ends.append((e.stop_ms, e.reason))
        end = min(ends)
        return end if end[0] <= now else None

    def _advance(self, e: TrackedContact, now: int, end: tuple[int, str] | None
                 ) -> list[AlertChange]:
        cfg, c = self.config, e.c
        out: list[AlertChange] = []
        risk, breach = self.risk_at(c), self.breach_at(c)
        if risk is None or breach is None:
            return out  # paused: nothing is due until the clock runs again
        if cfg.enabled and not e.risk_done:
            if e.risk_start is None:
                if end is not None and end[0] <= risk:
                    e.risk_done = True  # stopped before it was at risk
                elif risk <= now:
                    e.risk_start = risk
                    out.append(self._change(e, AT_RISK, FIRING, risk, risk, None))
            if e.risk_start is not None:
                # Stopping exactly at the target is within it (wait ≤ target).
                close = (breach, "breached") if end is None or breach < end[0] else end
                if close[0] <= now:
                    e.risk_done = True
                    out.append(self._change(e, AT_RISK, RESOLVED, close[0], close[0], close[1]))
        if cfg.contact_breach and not e.breach_done:
            if e.breach_start is None:
                if end is not None and end[0] <= breach:
                    e.breach_done = True
                elif breach <= now:
                    e.breach_start = max(breach, e.late_since or breach)
                    out.append(self._change(e, BREACH, FIRING, e.breach_start, breach, None))
            if e.breach_start is not None and end is not None:
                e.breach_done = True
                out.append(self._change(e, BREACH, RESOLVED, end[0], end[0], end[1]))
        return out

    def _change(self, e: TrackedContact, kind: str, state: str, at: int, elapsed_at: int,
                reason: str | None) -> AlertChange:
        cfg, c = self.config, e.c
        at_risk = kind == AT_RISK
        started = e.risk_start if at_risk else e.breach_start
        assert started is not None
        rule_id = cfg.rule_id if at_risk else cfg.breach_rule_id
        target_ms = c.target_s * 1000
        due = self.breach_at(c)
        risk = self.risk_at(c)
        assert due is not None and risk is not None  # paused contacts never change
        threshold_ms = risk - c.clock_start_ms if at_risk else due - c.clock_start_ms
        waited = elapsed_at - c.clock_start_ms
        who = f"{c.channel} contact {c.contact_id} in queue {c.queue or '-'} (tenant {c.tenant_id})"
        target = f"{duration_text(target_ms)} target"
        plain = due == c.clock_start_ms + target_ms  # calendar time, no pause
        if state == FIRING and at_risk and plain:
            msg = (f"{who} has waited {duration_text(waited)} of its {target}: "
                   f"{duration_text(target_ms - waited)} left, breach at {iso(due)}")
        elif state == FIRING and at_risk:
            msg = (f"{who} is due at {iso(due)} ({target}, business hours or pauses): "
                   f"{duration_text(due - elapsed_at)} left")
        elif state == FIRING:
            msg = f"{who} passed its {target} at {iso(due)}, still waiting"
        elif reason == "breached":
            msg = f"{who} breached its {target} at {iso(at)}, still waiting"
        elif reason == "expired":
            msg = f"{who} no longer tracked after waiting {duration_text(waited)}"
        else:
            within = "within" if at <= due else "over"
            msg = f"{who} {reason} after {duration_text(waited)}, {within} its {target}"
        return AlertChange(
            alert_id(rule_id, c.tenant_id, c.contact_id, started), rule_id, kind,
            cfg.severity if at_risk else cfg.breach_severity, state, "wait_s", c.tenant_id,
            c.channel, c.queue, c.priority, "", c.contact_id, waited / 1000, threshold_ms / 1000,
            started, at if state == RESOLVED else None, msg, VERSIONS[state], at,
        )

    def entry_row(self, key: tuple[str, str]) -> list[Any] | None:
        """The (tenant, contact)'s row, or None when it is not tracked."""
        e = self.entries.get(key)
        if e is None:
            return None
        # The due time goes last: rows written before it existed have 14 fields.
        c = e.c
        return [c.tenant_id, c.contact_id, c.channel, c.queue, c.priority, c.clock_start_ms,
                c.target_s, e.stop_ms, e.reason, e.risk_start, e.risk_done,
                e.breach_start, e.breach_done, e.late_since, e.c.due_ms]

    def take_changed(self) -> set[tuple[str, str]]:
        """The contacts that may have changed or left since the last call (a superset)."""
        changed, self._changed = self._changed, set()
        return changed

    def to_state(self) -> dict[str, Any]:
        return {"now": self.now, "entries": [self.entry_row(k) for k in sorted(self.entries)]}

    @classmethod
    def from_state(cls, state: dict[str, Any], config: AtRiskConfig | None = None
                   ) -> AtRiskTracker:
        return cls.from_rows(state["now"], state["entries"], config)

    @classmethod
    def from_rows(cls, now: int | None, rows: Iterable[Sequence[Any]],
                  config: AtRiskConfig | None = None) -> AtRiskTracker:
        """Restore from the clock and `entry_row`s."""
        t = cls(config)
        t.now = now
        for row in rows:
            t_id, c_id, ch, q, pr, start, target = row[:7]
            due = row[14] if len(row) > 14 else LEGACY
            c = WaitingContact(t_id, c_id, ch, q, pr, start, target, due)
            t.entries[(c.tenant_id, c.contact_id)] = TrackedContact(c, *row[7:14])
        return t
