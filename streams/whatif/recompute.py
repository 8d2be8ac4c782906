"""Stored events → contact views under one SLA policy, with the pipeline's own core.

The shards' functions, in the same order: `ContactFacts.apply` per event, `repeat_flags` per
customer, `derive` per contact, `rollup.contribution` per view. Nothing here reads a store, so a
what-if is exactly what the pipeline would have written under the other policy
(`tests/integration/test_whatif.py` recomputes under the stored rows' own policy and gets them
back).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqm.streams.core.alerting import AtRiskConfig, AtRiskTracker, WaitingContact
from sqm.streams.core.alerting.at_risk import stopped_waiting
from sqm.streams.core.derive import ContactView, derive
from sqm.streams.core.facts import CREATED_ORDER_ID, CREATED_TOPIC, CREATED_TS, ContactFacts
from sqm.streams.core.policy_file import Policy
from sqm.streams.core.records import EventRecord
from sqm.streams.core.repeat import repeat_flags
from sqm.streams.core.rollup import N_COUNTERS, Counts, WindowKey, add_into, contribution

ContactKey = tuple[str, str]  # (tenant_id, contact_id)
# What "the same issue" means, as positions in ContactFacts.created (Shard._issue_of).
_ISSUE_FIELD = {"order_id": CREATED_ORDER_ID, "topic": CREATED_TOPIC}


@dataclass(frozen=True, slots=True)
class Rules:
    """Everything that decides one side's results: the policy, its repeat window (the policy's
    `repeat.window`, else the settings'), and the at-risk fraction of the alert rules."""

    policy: Policy
    repeat_window_ms: int
    at_risk: AtRiskConfig


@dataclass(frozen=True, slots=True)
class Recomputed:
    views: dict[ContactKey, ContactView]  # the contacts of the scope
    at_risk_at: dict[ContactKey, int]  # when each contact that did passed its at-risk point
    next_created: dict[ContactKey, int | None]  # the customer's next contact's creation (FCR)


def contact_facts(events: Iterable[EventRecord]) -> dict[ContactKey, ContactFacts]:
    """Each contact's facts from its events, in any order (facts are a semilattice)."""
    out: dict[ContactKey, ContactFacts] = {}
    for e in events:
        key = (e.tenant_id, e.contact_id)
        facts = out.get(key)
        if facts is None:
            facts = out[key] = ContactFacts(e.tenant_id, e.contact_id, e.customer_id)
        facts.apply(e)
    return out


def recompute(scope: Mapping[ContactKey, ContactFacts],
              neighbours: Mapping[ContactKey, ContactFacts], rules: Rules, clock_ms: int
              ) -> Recomputed:
    """The scope's contacts under `rules`. `neighbours` are the same customers' other contacts
    (their `contact.created` is enough): they make scope contacts repeats, and end FCRs.
    `clock_ms`: how far the at-risk tracker got (the newest event stored)."""
    every = {**neighbours, **scope}
    groups = _by_customer(every)
    flags = _repeat_flags(groups, rules)
    views = {k: derive(f, flags.get(k, False), rules.policy) for k, f in scope.items()}
    tracker = AtRiskTracker(rules.at_risk)
    risks = {k: t for k, v in views.items()
             if (t := at_risk_at(v, tracker)) is not None and t <= clock_ms}
    return Recomputed(views, risks, _next_created(groups, scope))


def at_risk_at(v: ContactView, tracker: AtRiskTracker) -> int | None:
    """When the contact passed the at-risk point of its target while still waiting, as the
    alert stage's tracker decides it (docs/alerting.md, at-risk warnings); None if it never
    did: stopped waiting first, paused, or never offered to a queue. (A contact still waiting
    has passed it once the tracker's clock has: `recompute` checks.)"""
    if not v.has_queued or v.queued_at is None:
        return None
    start = v.sla_start_at if v.sla_start_at is not None else v.queued_at
    risk = tracker.risk_at(WaitingContact(v.tenant_id, v.contact_id, v.channel, v.queue,
                                          v.priority, start, v.sla_target_s, v.sla_due_at))
    if risk is None:
        return None
    end = start + tracker.config.max_wait  # the tracker lets go of it then
    if v.answered_at is not None or v.abandoned_at is not None or v.resolved_at is not None:
        end = min(end, stopped_waiting(v)[0])
    return risk if risk < end else None  # stopping at the at-risk point is not at risk


def period_windows(views: Iterable[ContactView], start_ms: int, end_ms: int
                   ) -> dict[WindowKey, Counts]:
    """The one-minute windows in [start, end) these contacts add up to: `sqm.sla_1m_total`'s
    rows for them (the shards' windows are the sum of the same contributions)."""
    out: dict[WindowKey, Counts] = {}
    for v in views:
        for key, counts in contribution(v).items():
            if start_ms <= key[0] < end_ms:
                total = out.get(key)
                if total is None:
                    total = out[key] = [0] * N_COUNTERS
                add_into(total, counts)
    return out


def _by_customer(facts: Mapping[ContactKey, ContactFacts]
                 ) -> dict[tuple[str, str], list[ContactFacts]]:
    """Contacts with a `contact.created`, per (tenant, customer): contacts without one are
    neither repeats nor make others repeats (docs/metrics.md)."""
    groups: dict[tuple[str, str], list[ContactFacts]] = {}
    for f in facts.values():
        if f.created is not None:
            groups.setdefault((f.tenant_id, f.customer_id), []).append(f)
    return groups


def _repeat_flags(groups: Mapping[tuple[str, str], list[ContactFacts]], rules: Rules
                  ) -> dict[ContactKey, bool]:
    index = _ISSUE_FIELD.get(rules.policy.repeat_identity)
    flags: dict[ContactKey, bool] = {}
    for (tenant, _), group in groups.items():
        if len(group) < 2:
            continue
        created = [(f.created[CREATED_TS], f.contact_id) for f in group if f.created]
        issue = ({f.contact_id: f.created[index] for f in group if f.created}
                 if index is not None else None)
        for cid, flag in repeat_flags(created, rules.repeat_window_ms, issue).items():
            if flag:
                flags[(tenant, cid)] = True
    return flags


def _next_created(groups: Mapping[tuple[str, str], list[ContactFacts]],
                  scope: Mapping[ContactKey, ContactFacts]) -> dict[ContactKey, int | None]:
    """For each scope contact with a creation, the creation time of its customer's next
    contact by (created_at, contact_id), as `sqm.scorecard_indicators` orders them."""
    out: dict[ContactKey, int | None] = {}
    for (tenant, _), group in groups.items():
        ordered = sorted((f.created[CREATED_TS], f.contact_id) for f in group if f.created)
        for i, (_, cid) in enumerate(ordered):
            if (tenant, cid) in scope:
                out[(tenant, cid)] = ordered[i + 1][0] if i + 1 < len(ordered) else None
    return out
