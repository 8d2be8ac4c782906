"""Evaluating only what can have changed: the keys a rule steps, the slides its sums come from.

Between two evaluations of a rule, a scope key whose sample is the same and that has no track
(it is ok) has nothing to do: its sample did not breach then (else it would have a track), so
it does not now. Such keys are not stepped (`Engine._step_keys`); the keys to step are those
whose sample may have moved plus those with a track (pending ones may reach their `for`).
Which keys moved:
- window rules: the keys whose sums a `RollingStore.slide` step touched since the rule's
  previous evaluation (the other keys' count lists are the very same, unchanged);
- instant rules (gauges, supplied metrics): the keys whose sample differs between the two
  evaluations' samples (`changed_keys`).

The window rules reading one (scope, window length) slide are walked together (`walk_slide`):
one pass over the union of their minutes, each rule evaluated at its own minutes only, so the
slide is computed once, not once per rule. The first evaluation of each rule in an `evaluate`
call steps every key: the state may have changed since the call before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence

from sqm.streams.core.alerting.changes import AlertChange, ScopeKey
from sqm.streams.core.alerting.rolling import RollingStore, Sample
from sqm.streams.core.alerting.rules import Rule

Found = tuple[int, int, list[AlertChange]]  # (minute, rule position, its changes there)
Member = tuple[int, Rule, Iterator[int]]  # (rule position, rule, its minutes, ascending)
# (rule, sums, keys moved since the rule's previous evaluation or None for any, minute)
WindowStep = Callable[[Rule, Mapping[ScopeKey, list[int]], set[ScopeKey] | None, int],
                      list[AlertChange]]


def changed_keys(before: Mapping[ScopeKey, Sample], now: Mapping[ScopeKey, Sample]
                 ) -> set[ScopeKey] | None:
    """The keys whose sample differs between two samplings (absent counts as a value of its
    own); None when the samples cannot be compared so (unhashable)."""
    if before is now:
        return set()
    try:
        return {key for key, _sample in before.items() ^ now.items()}
    except TypeError:
        return None


def walk_slide(store: RollingStore, members: Sequence[Member], step: WindowStep) -> list[Found]:
    """Evaluate the window rules `members`, all of one scope and window length, each at its
    own minutes, sliding their sums once over the union of those minutes. A rule's minutes
    are asked for one at a time, after its evaluation at the one before (`Engine._walk` looks
    at the state for its wake-ups)."""
    scope, width = members[0][1].scope, members[0][1].window
    heads: list[int | None] = [next(minutes, None) for _pos, _r, minutes in members]
    moved: list[set[ScopeKey] | None] = [None] * len(members)  # None: every key
    found: list[Found] = []
    while True:
        b = min((h for h in heads if h is not None), default=None)
        if b is None:
            return found
        sums, touched = store.slide(scope, b - width, b)
        for i, seen in enumerate(moved):
            if touched is None:
                moved[i] = None
            elif seen is not None:
                seen |= touched
        for i, (pos, rule, minutes) in enumerate(members):
            if heads[i] == b:
                if changes := step(rule, sums, moved[i], b):
                    found.append((b, pos, changes))
                moved[i] = set()
                heads[i] = next(minutes, None)
