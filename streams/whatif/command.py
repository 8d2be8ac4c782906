"""`sqm whatif`: read the period's stored events, recompute them under both policies, compare.

Policy files are validated before the store is opened, so a mistake in one is one line and
costs nothing; the store is then only read (`source.open_read_only`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from sqm.streams.config import ConfigError, Settings
from sqm.streams.core.alerting import AtRiskConfig
from sqm.streams.core.derive import ContactView
from sqm.streams.core.facts import CREATED_TS
from sqm.streams.core.rollup import MINUTE_MS
from sqm.streams.core.rows import epoch_ms
from sqm.streams.whatif import source
from sqm.streams.whatif.compare import Changed, GroupRow, Period, compare
from sqm.streams.whatif.policies import Side, check_goal, check_stored, current_side, proposed_side
from sqm.streams.whatif.recompute import ContactKey, Recomputed, contact_facts, recompute

SHOWN_MISMATCHES = 3


@dataclass(frozen=True, slots=True)
class Request:
    proposed: Path
    current: Path | None = None
    period: str = "30d"
    end: str = "latest"
    goal: str = "efficiency"


@dataclass(frozen=True, slots=True)
class Result:
    period: Period
    goal: str
    sides: tuple[Side, Side]
    contacts: int  # with a stored event in the period
    recomputed: int  # those and the contacts that may still be waiting at its start
    events: int  # their stored events
    invalid: int  # stored events that no longer validate, left out
    rows: list[GroupRow]
    changed: list[Changed]
    # Contacts whose stored row differs from the current side's recomputation, as
    # "tenant/contact: stored ..., recomputed ..."; empty when the store is reproduced.
    mismatches: list[str] = field(default_factory=list)
    mismatched: int = 0


def run(settings: Settings, at_risk: AtRiskConfig, request: Request) -> Result:
    current = current_side(request.current, settings, at_risk)
    proposed = proposed_side(request.proposed, settings, at_risk)
    check_goal(request.goal, current, proposed)
    store = settings.store_dir()
    if store is not None and not (store / "metadata").is_dir():
        raise ConfigError(f"no store at {store} (write one with `sqm replay FILE --store DIR`)")
    from sqm.streams.store import store_url

    client = source.open_read_only(store_url(settings))
    try:
        return _run(client, request, current, proposed)
    finally:
        client.close()


@dataclass(frozen=True, slots=True)
class Recomputation:
    """A period's contacts recomputed under both sides, with what the store says of them."""

    period: Period
    results: tuple[Recomputed, Recomputed]  # (current, proposed)
    stored: dict[ContactKey, source.StoredRow]
    events: int
    invalid: int


def _run(client: Client, request: Request, current: Side, proposed: Side) -> Result:
    from sqm.sinks.migrations import pending

    if missing := pending(client):
        raise ConfigError(f"the store lacks schema migrations {', '.join(missing)}: run "
                          "`sqm migrate` with the same --store/--config first")
    start_ms, end_ms = bounds(client, request.period, request.end)
    stored = source.stored_rows(client, start_ms, end_ms)
    if not stored:
        raise ConfigError(f"no stored events from {_iso(start_ms)} to {_iso(end_ms)}: nothing "
                          "to compare (see --period and --end)")
    check_stored(current, Counter(r.policy_version for r in stored.values()))
    r = recompute_period(client, start_ms, end_ms, (current, proposed), stored)
    rows, changed = compare(r.period, request.goal, (current, proposed), r.results)
    mismatches = _mismatches(r.results[0].views, stored)
    return Result(r.period, request.goal, (current, proposed), len(stored),
                  len(r.results[0].views), r.events, r.invalid, rows, changed,
                  mismatches[:SHOWN_MISMATCHES], len(mismatches))


def recompute_period(client: Client, start_ms: int, end_ms: int, sides: tuple[Side, Side],
                     stored: dict[ContactKey, source.StoredRow] | None = None
                     ) -> Recomputation:
    """The period's contacts (`source`: those with a stored event in [start, end), and those
    that may be waiting at its start) recomputed under both sides."""
    if stored is None:
        stored = source.stored_rows(client, start_ms, end_ms)
    lookback = max(side.rules.at_risk.max_wait for side in sides)
    events = source.scope_events(client, start_ms, end_ms, lookback)
    scope = contact_facts(events.records)
    # Repeats look back one window from each creation; FCRs look one window past the end.
    window = max(side.rules.repeat_window_ms for side in sides)
    first = min((f.created[CREATED_TS] for f in scope.values() if f.created), default=start_ms)
    around = source.neighbour_creations(client, start_ms, end_ms, lookback,
                                        min(first, start_ms) - window, end_ms + window,
                                        scope.keys())
    neighbours = contact_facts(around.records)
    newest = source.newest_event_ms(client) or end_ms
    # The alert stage's clock stops at the newest event: a contact still waiting then has not
    # passed an at-risk point beyond it.
    results = (recompute(scope, neighbours, sides[0].rules, newest),
               recompute(scope, neighbours, sides[1].rules, newest))
    return Recomputation(Period(start_ms, end_ms, newest), results, stored,
                         len(events.records), events.invalid + around.invalid)


def bounds(client: Client, period: str, end: str) -> tuple[int, int]:
    """`--period` and `--end` as [start, end) in epoch ms, on whole UTC minutes (the windows'
    grid): the end rounds up to a minute, the start is the period before it, rounded down."""
    from sqm.streams.scorecard_report import period_bounds

    start, stop = period_bounds(client, period, end)
    if stop <= start:
        raise ConfigError(f"--period: {period!r} is no length of time (want e.g. 7d, 24h, 90m)")
    end_ms = -(-epoch_ms(stop) // MINUTE_MS) * MINUTE_MS
    start_ms = end_ms - (epoch_ms(stop) - epoch_ms(start))
    return start_ms - start_ms % MINUTE_MS, end_ms


def _mismatches(views: dict[ContactKey, ContactView],
                stored: dict[ContactKey, source.StoredRow]) -> list[str]:
    """Where the current side does not give the stored row back (outcome, target, repeat):
    the policy file changed without a new version, or the rows predate this sqm."""
    out: list[str] = []
    for key, row in sorted(stored.items()):
        v = views.get(key)
        if v is None:
            continue  # its events left out as invalid: counted there
        got = (v.sla_outcome, v.sla_target_s, v.is_repeat)
        want = (row.sla_outcome, row.sla_target_s, row.is_repeat)
        if got != want:
            out.append(f"{key[0]}/{key[1]}: stored {_row(want)}, recomputed {_row(got)}")
    return out


def _row(t: tuple[str | None, int, bool]) -> str:
    return f"{t[0] or 'open'}, target {t[1]} s{', repeat' if t[2] else ''}"


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
