"""The two sides side by side: per tenant, channel and queue (and per tenant in all), and the
contacts whose outcome differs.

What counts in the period [start, end) is what the stored tables count in it: service level
and misses by the one-minute windows of the answer or abandon (`sqm.sla_1m`), at-risk contacts
by their at-risk time (the alert stage's warning), scorecard scores over the contacts created
in it (`sqm scorecard`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqm.streams.core.derive import ContactView
from sqm.streams.core.rollup import SL_MET, SL_MISSED
from sqm.streams.core.scorecard import score
from sqm.streams.whatif.indicators import measure
from sqm.streams.whatif.policies import Side
from sqm.streams.whatif.recompute import ContactKey, Recomputed, period_windows

ALL = "(all)"
GroupKey = tuple[str, str, str]  # (tenant_id, channel, queue); ALL for a tenant's total


@dataclass(frozen=True, slots=True)
class Totals:
    met: int
    missed: int
    at_risk: int
    score: float | None  # the goal's score; None when nothing could be scored
    coverage: float  # share of the goal's weight scored

    @property
    def service_level(self) -> float | None:
        return self.met / (self.met + self.missed) if self.met + self.missed else None


@dataclass(frozen=True, slots=True)
class GroupRow:
    key: GroupKey
    current: Totals
    proposed: Totals
    changed: int  # contacts of the group whose outcome changed


@dataclass(frozen=True, slots=True)
class Changed:
    current: ContactView
    proposed: ContactView
    at_risk: tuple[bool, bool]  # (current, proposed)
    what: tuple[str, ...]  # e.g. "met → missed", "at risk", "repeat"

    @property
    def counted_at(self) -> int | None:
        """When the contact counts in the service level (answer, else abandon)."""
        for v in (self.current, self.proposed):
            at = v.answered_at if v.answered_at is not None else v.abandoned_at
            if at is not None:
                return at
        return None


@dataclass(frozen=True, slots=True)
class Period:
    start_ms: int
    end_ms: int
    horizon_ms: int  # the newest event stored (provisional FCRs)


def compare(period: Period, goal: str, sides: tuple[Side, Side],
            results: tuple[Recomputed, Recomputed]) -> tuple[list[GroupRow], list[Changed]]:
    changed = changed_contacts(period, *results)
    per_group: dict[GroupKey, int] = {}
    for c in changed:
        for key in _keys_of(c.current):
            per_group[key] = per_group.get(key, 0) + 1
    totals = [_totals(period, goal, side, res) for side, res in zip(sides, results, strict=True)]
    keys = sorted(set(totals[0]) | set(totals[1]), key=lambda k: (k[0], k[1] == ALL, k))
    empty = Totals(0, 0, 0, None, 0.0)
    rows = [GroupRow(k, totals[0].get(k, empty), totals[1].get(k, empty), per_group.get(k, 0))
            for k in keys]
    return rows, changed


def changed_contacts(period: Period, current: Recomputed, proposed: Recomputed
                     ) -> list[Changed]:
    """The contacts of the period (counted in it on either side, or created in it) whose
    outcome differs: service-level outcome, at risk, repeat, next-response misses, resolution
    within target."""
    out: list[Changed] = []
    for key, old in current.views.items():
        new = proposed.views[key]
        risk = (key in current.at_risk_at, key in proposed.at_risk_at)
        if not _in_period(period, key, (old, new), (current, proposed)):
            continue
        what = _differences(old, new, risk)
        if what:
            out.append(Changed(old, new, risk, what))
    out.sort(key=lambda c: (c.current.tenant_id, c.current.channel, c.current.queue,
                            c.counted_at or 0, c.current.contact_id))
    return out


def _differences(old: ContactView, new: ContactView, risk: tuple[bool, bool]) -> tuple[str, ...]:
    what: list[str] = []
    if old.sla_outcome != new.sla_outcome:
        what.append(f"{_outcome(old.sla_outcome)} → {_outcome(new.sla_outcome)}")
    if risk[0] != risk[1]:
        what.append("now at risk" if risk[1] else "no longer at risk")
    if old.is_repeat != new.is_repeat:
        what.append("now a repeat" if new.is_repeat else "no longer a repeat")
    if (old.next_response_missed or 0) != (new.next_response_missed or 0):
        what.append(f"next responses missed {old.next_response_missed or 0} → "
                    f"{new.next_response_missed or 0}")
    if old.resolution_in_sla != new.resolution_in_sla:
        what.append(f"resolution {_within(old.resolution_in_sla)} → "
                    f"{_within(new.resolution_in_sla)}")
    return tuple(what)


def _outcome(o: str | None) -> str:
    return "open" if o is None else o


def _within(b: bool | None) -> str:
    return "no target" if b is None else ("within" if b else "over")


def _in_period(period: Period, key: ContactKey, views: tuple[ContactView, ContactView],
               results: tuple[Recomputed, Recomputed]) -> bool:
    lo, hi = period.start_ms, period.end_ms
    for v, res in zip(views, results, strict=True):
        times = (v.answered_at, v.abandoned_at, v.created_at, res.at_risk_at.get(key))
        if any(t is not None and lo <= t < hi for t in times):
            return True
    return False


def _keys_of(v: ContactView) -> tuple[GroupKey, GroupKey]:
    return (v.tenant_id, v.channel, v.queue), (v.tenant_id, ALL, ALL)


def _totals(period: Period, goal: str, side: Side, res: Recomputed) -> dict[GroupKey, Totals]:
    sl: dict[GroupKey, list[int]] = {}
    for (_, tenant, channel, queue, _), counts in period_windows(
            res.views.values(), period.start_ms, period.end_ms).items():
        for key in ((tenant, channel, queue), (tenant, ALL, ALL)):
            acc = sl.setdefault(key, [0, 0])
            acc[0] += counts[SL_MET]
            acc[1] += counts[SL_MISSED]
    risky: dict[GroupKey, int] = {}
    for contact, at in res.at_risk_at.items():
        if period.start_ms <= at < period.end_ms:
            for g in _keys_of(res.views[contact]):
                risky[g] = risky.get(g, 0) + 1
    created: dict[GroupKey, list[ContactView]] = {}
    for v in res.views.values():
        if v.created_at is not None and period.start_ms <= v.created_at < period.end_ms:
            for g in _keys_of(v):
                created.setdefault(g, []).append(v)
    out: dict[GroupKey, Totals] = {}
    for key in sl.keys() | risky.keys() | created.keys():
        s = _score(goal, side, res, created.get(key, ()), period.horizon_ms)
        met, missed = sl.get(key, (0, 0))
        out[key] = Totals(met, missed, risky.get(key, 0), s[0], s[1])
    return out


def _score(goal: str, side: Side, res: Recomputed, views: Iterable[ContactView],
           horizon_ms: int) -> tuple[float | None, float]:
    measured, _ = measure(views, res.next_created, side.rules.repeat_window_ms, horizon_ms)
    s = score(side.goals[goal], side.indicators, measured)
    return s.score, s.coverage
