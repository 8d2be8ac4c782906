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

A call passing many minutes walks a window rule key by key instead (`walk_keys`): scope keys
are independent (each steps its own track), and a key's sample changes only where one of its
own minutes with a counter the metric reads enters or leaves the window. So each key is
evaluated at the first minute, at those minutes, and where its pending breach reaches its
`for`, its sums there the differences of prefix sums over its own minutes and its samples
taken column-wise (`COLUMN_SAMPLERS`); the changes are then ordered by minute and key, as the
minute-by-minute walk gives them. The work follows the keys' data, not the minutes times
the keys. The gauge rules of a long call go key by key too, over `AtRiskTracker.gauge_steps`
(where each key's gauges change), plus the keys with a track (a key no longer reported reads 0),
and the percentile rules over `WaitSamples.timelines` (each key's answers alone).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from itertools import accumulate, groupby, repeat
from operator import sub

from sqm.streams.core.alerting.changes import BREACH, AlertChange, ScopeKey
from sqm.streams.core.alerting.grid import ceil_minute
from sqm.streams.core.alerting.machine import PENDING, Describe, Machines
from sqm.streams.core.alerting.rolling import RollingStore
from sqm.streams.core.alerting.rules import MINUTE_MS, Rule
from sqm.streams.core.alerting.samples import COLUMN_SAMPLERS, SAMPLERS, Columns, Sample

Found = tuple[int, int, list[AlertChange]]  # (minute, rule position, its changes there)
Member = tuple[int, Rule, Iterator[int]]  # (rule position, rule, its minutes, ascending)
# (rule, sums, keys moved since the rule's previous evaluation or None for any, minute)
DescribeRule = Callable[[Rule, ScopeKey, str, float], str]
Pair = tuple[float | None, float]  # a sample's (value, n), a `Sample` or a plain tuple
_NOTHING_WAITS = Sample(0.0, 0)  # a gauge's key that is not reported
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
    are asked for one at a time, after its evaluation at the one before (`grid.walk_points` looks
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


def walk_keys(store: RollingStore, pos: int, rule: Rule, first: int, last: int,
              machines: Machines, describe: DescribeRule) -> list[Found]:
    """Evaluate the window rule at position `pos` at the minutes [first, last] of a call, key
    by key (see the module docstring): the changes of the minute-by-minute walk."""
    width = rule.window
    counters, sample = SAMPLERS[rule.metric][0], COLUMN_SAMPLERS[rule.metric]
    found: list[tuple[int, ScopeKey, AlertChange]] = []
    for key, (minutes, columns) in store.key_series(rule.scope.specs, counters, first - width,
                                                    last).items():
        timeline = _window_timeline(minutes, columns, width, first, last, sample)
        walk_key(key, timeline, last, rule, machines, describe, found)
    return _by_minute(found, pos)


def _window_timeline(minutes: list[int], columns: list[list[int]], width: int, first: int,
                     last: int, sample: Callable[..., Columns]) -> list[tuple[int, Pair]]:
    """A key's sample over the window before `first` and before each minute of [first, last]
    where one of its minutes (ascending, with its counters' `columns`) enters or leaves it."""
    # a minute enters the window a minute after it, and leaves it a window later (two
    # ascending runs: sorted merges them; equal points are neighbours)
    points = list(dict.fromkeys(sorted([first, *map((MINUTE_MS).__add__, minutes),
                                        *map((width + MINUTE_MS).__add__, minutes)])))
    points = points[bisect_left(points, first):bisect_right(points, last)]
    # the window before b holds the minutes [b - width, b): a difference of prefix sums
    # (integers: exact), taken point by point in C rather than slid entry by entry
    his = list(map(bisect_left, repeat(minutes), points))
    los = list(map(bisect_left, repeat(minutes), map(sub, points, repeat(width))))
    prefixes = [list(accumulate(column, initial=0)) for column in columns]
    sums = [list(map(sub, map(prefix.__getitem__, his), map(prefix.__getitem__, los)))
            for prefix in prefixes]
    return list(zip(points, zip(*sample(*sums), strict=True), strict=True))


def walk_gauge_keys(steps: Mapping[ScopeKey, Sequence[tuple[int, int, int]]],
                    points: Sequence[int], last: int, pos: int, rule: Rule,
                    machines: Machines, describe: DescribeRule) -> list[Found]:
    """Evaluate the gauge rule at position `pos` key by key: each key at the first of
    `points`, where its gauge changes (`AtRiskTracker.gauge_steps` over `points`) and where
    its pending breach reaches its `for` (up to `last`). A key with nothing waiting reads 0."""
    at_risk = rule.metric == "at_risk_count"
    timelines: dict[ScopeKey, list[tuple[int, Sample]]] = {}
    for key in steps.keys() | machines.tracks.get(rule.id, {}).keys():
        timeline = timelines[key] = [(points[0], _NOTHING_WAITS)]
        for i, backlog, risky in steps.get(key, ()):
            now = _NOTHING_WAITS if backlog <= 0 else Sample(
                float(risky if at_risk else backlog), backlog)
            if i == 0:
                timeline[0] = (points[0], now)
            else:
                timeline.append((points[i], now))
    return walk_timelines(timelines, last, pos, rule, machines, describe)


def walk_timelines(timelines: Mapping[ScopeKey, Sequence[tuple[int, Sample]]], last: int,
                   pos: int, rule: Rule, machines: Machines, describe: DescribeRule
                   ) -> list[Found]:
    """Evaluate the rule at position `pos` key by key over each key's timeline (minute, its
    sample from then on; the first at the call's first minute), and where its pending breach
    reaches its `for` (up to `last`). Keys without a timeline are not evaluated."""
    found: list[tuple[int, ScopeKey, AlertChange]] = []
    for key, timeline in timelines.items():
        walk_key(key, timeline, last, rule, machines, describe, found)
    return _by_minute(found, pos)


def walk_key(key: ScopeKey, timeline: Sequence[tuple[int, Pair]], last: int, rule: Rule,
              machines: Machines, describe: DescribeRule,
              found: list[tuple[int, ScopeKey, AlertChange]]) -> None:
    """Step one key at the minutes of its `timeline` (minute, its sample from then on), and
    at the minutes between where its pending breach has lasted `for` (up to `last`)."""
    tracks, rule_id, for_, min_sample = machines.tracks, rule.id, rule.for_, rule.min_sample
    breaches, end = rule.breaches, len(timeline) - 1
    ours = tracks.get(rule_id)
    t = ours.get(key) if ours else None  # changes only when this key is stepped
    i, (b, (value, n)) = 0, timeline[0]
    while True:
        if t is None:  # an ok key: nothing to do before a sample that breaches
            while value is None or n < min_sample or not breaches(value):
                if i == end:
                    return
                i += 1
                b, (value, n) = timeline[i]
        if value is not None and n >= min_sample:
            describe_key: Describe = partial(describe, rule, key)
            change = machines.step(rule, BREACH, key, b, value, breaches(value),
                                   rule.recovers(value), describe_key)
            if change is not None:
                found.append((b, key, change))
            ours = tracks.get(rule_id)
            t = ours.get(key) if ours else None
        nxt = timeline[i + 1][0] if i < end else None
        if t is not None and t.state == PENDING and nxt != b + MINUTE_MS:
            wake = ceil_minute(t.since + for_)  # its breach has lasted `for` by then
            if b < wake <= last and (nxt is None or wake < nxt):
                b = wake  # the same sample
                continue
        if nxt is None:
            return
        i += 1
        b, (value, n) = timeline[i]


def _by_minute(found: list[tuple[int, ScopeKey, AlertChange]], pos: int) -> list[Found]:
    """One rule's changes ordered by minute and key, as the minute-by-minute walk gives them."""
    found.sort(key=lambda f: (f[0], f[1]))
    return [(b, pos, [c for _b, _key, c in group])
            for b, group in groupby(found, key=lambda f: f[0])]
