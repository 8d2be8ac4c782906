"""The lifecycle of threshold and anomaly alerts, per (rule, scope key).

    ok ──breach──► pending(since) ──breach still, now − since ≥ for──► firing ──recovers──► ok
     ▲                │ no breach                                       │  ▲ acknowledge
     └────────────────┘                                                 ▼  │
                                                   acknowledged ──recovers──► ok

Only pending, firing and acknowledged tracks are stored: ok is the absence of a track, so
state stays as small as the set of things that are wrong. Changes are emitted on firing,
acknowledging and resolving only; a breach seen again while firing emits nothing. A new breach
after a resolve starts a new alert: its id hashes the rule, the scope key and `since`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqm.streams.core.alerting.changes import (
    ACKNOWLEDGED,
    FIRING,
    RESOLVED,
    VERSIONS,
    AlertChange,
    ScopeKey,
    alert_id,
)

PENDING = "pending"

# describe(state, value) → the one-line message of a firing or resolved change.
Describe = Callable[[str, float], str]


class RuleInfo(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def metric(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def threshold(self) -> float: ...
    @property
    def for_(self) -> int: ...


@dataclass(slots=True)
class Track:
    state: str  # pending | firing | acknowledged
    since: int  # pending: condition true since; firing: the alert's started_at
    # Set once firing, so acknowledging and retiring need no rule at hand.
    alert_id: str = ""
    kind: str = ""
    severity: str = ""
    metric: str = ""
    threshold: float = 0.0
    value: float = 0.0
    message: str = ""

    def change(self, rule_id: str, key: ScopeKey, state: str, at: int, *, value: float,
               message: str, ended_at: int | None = None) -> AlertChange:
        return AlertChange(
            self.alert_id, rule_id, self.kind, self.severity, state, self.metric, *key, None,
            value, self.threshold, self.since, ended_at, message, VERSIONS[state], at,
        )


@dataclass(slots=True)
class Machines:
    tracks: dict[str, dict[ScopeKey, Track]] = field(default_factory=dict)

    def keys(self, rule_id: str) -> Iterable[ScopeKey]:
        return self.tracks.get(rule_id, {}).keys()

    def step(self, rule: RuleInfo, kind: str, key: ScopeKey, at: int, value: float,
             breach: bool, recovers: bool, describe: Describe) -> AlertChange | None:
        """Advance one track with one evaluation at clock `at`; the change it makes, if any."""
        tracks = self.tracks.get(rule.id)
        t = tracks.get(key) if tracks else None
        if t is None or t.state == PENDING:
            if not breach:
                if t is not None:
                    self._drop(rule.id, key)  # recovered before `for`: never fired
                return None
            if t is None:
                t = self.tracks.setdefault(rule.id, {})[key] = Track(PENDING, at)
            if at - t.since < rule.for_:
                return None
            t.state, t.kind, t.severity, t.metric = FIRING, kind, rule.severity, rule.metric
            t.alert_id = alert_id(rule.id, *key, t.since)
            t.threshold, t.value, t.message = rule.threshold, value, describe(FIRING, value)
            return t.change(rule.id, key, FIRING, at, value=value, message=t.message)
        t.value = value
        if not recovers:
            return None
        self._drop(rule.id, key)
        return t.change(rule.id, key, RESOLVED, at, value=value,
                        message=describe(RESOLVED, value), ended_at=at)

    def acknowledge(self, alert: str, now_ms: int) -> AlertChange | None:
        """firing → acknowledged (it still resolves by itself); None if not firing here."""
        for rule_id, tracks in self.tracks.items():
            for key, t in tracks.items():
                if t.alert_id == alert and t.state == FIRING:
                    t.state = ACKNOWLEDGED
                    return t.change(rule_id, key, ACKNOWLEDGED, max(now_ms, t.since),
                                    value=t.value, message=f"{t.message} (acknowledged)")
        return None

    def retire(self, keep: set[str], at: int) -> list[AlertChange]:
        """Resolve the alerts of rules no longer configured (after a restart with a new policy)."""
        out: list[AlertChange] = []
        for rule_id in sorted(set(self.tracks) - keep):
            for key, t in sorted(self.tracks.pop(rule_id).items()):
                if t.state != PENDING:
                    out.append(t.change(rule_id, key, RESOLVED, max(at, t.since), value=t.value,
                                        message=f"{t.message} (rule removed from the policy)",
                                        ended_at=max(at, t.since)))
        return out

    def _drop(self, rule_id: str, key: ScopeKey) -> None:
        tracks = self.tracks[rule_id]
        del tracks[key]
        if not tracks:
            del self.tracks[rule_id]

    def to_state(self) -> list[list[Any]]:
        return [
            [rule_id, list(key), t.state, t.since, t.alert_id, t.kind, t.severity, t.metric,
             t.threshold, t.value, t.message]
            for rule_id, tracks in sorted(self.tracks.items())
            for key, t in sorted(tracks.items())
        ]

    @classmethod
    def from_state(cls, state: list[list[Any]]) -> Machines:
        m = cls()
        for rule_id, key, *rest in state:
            m.tracks.setdefault(rule_id, {})[tuple(key)] = Track(*rest)  # type: ignore[index]
        return m
