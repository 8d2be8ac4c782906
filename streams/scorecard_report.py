"""`sqm scorecard`: the indicators per agent, team (queue) or channel from `sqm.contacts`, scored
by `streams.core.scorecard` (definitions: docs/scorecard.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqm.streams.core.scorecard import (
    DEFAULT_GOALS,
    DEFAULT_INDICATORS,
    Goal,
    Indicator,
    Measured,
    Part,
    Score,
    score,
)

if TYPE_CHECKING:
    from rich.table import Table

ENTITIES = {"agent": "first_agent_id", "queue": "queue", "channel": "channel"}
RATING_DIMENSIONS = ("professionalism", "patience")  # columns of the view, from `ratings`

# The indicator values come from the view `sqm.scorecard_indicators` (migration 0007), so
# analysts can query exactly what the scorecard scores.
INDICATORS_SQL = """
SELECT *
FROM sqm.scorecard_indicators(
    period_start = {start:DateTime64(3)}, period_end = {end:DateTime64(3)},
    window_ms = {window_ms:UInt64}, horizon = {horizon:DateTime64(3)})
WHERE entity_kind = {by:String}
ORDER BY tenant_id, entity
"""

# Per agent, only contacts an agent answered are theirs: an answered rate would always be 1.
NOT_PER_AGENT = {"answered_rate"}


@dataclass(frozen=True, slots=True)
class EntityScore:
    tenant_id: str
    entity: str
    score: Score
    fcr_provisional: int


def measure(client: Any, by: str, start: datetime, end: datetime, repeat_window_ms: int
            ) -> list[tuple[str, str, dict[str, Measured], int]]:
    """(tenant, entity, indicator -> measured, provisional FCR count) per entity."""
    horizon = client.query("SELECT max(last_event_at) FROM sqm.contacts").result_rows[0][0]
    result = client.query(
        INDICATORS_SQL,
        parameters={"start": start, "end": end, "window_ms": repeat_window_ms,
                    "horizon": horizon or end, "by": by},
    )
    names = list(result.column_names)
    out = []
    for row in result.result_rows:
        r = dict(zip(names, row, strict=True))
        pairs = [
            ("first_response_s", "first_response"), ("response_in_sla", "first_response"),
            ("answered_rate", "answered_rate"),
            ("fcr_rate", "fcr"), ("resolution_s", "resolution"), ("repeat_rate", "repeat"),
            ("csat_share", "csat"), ("csat_mean", "csat"), *((d, d) for d in RATING_DIMENSIONS),
        ]
        measured = {}
        for name, prefix in pairs:
            if by == "agent" and name in NOT_PER_AGENT:
                continue
            n = int(r[f"{prefix}_n"])
            # avgIf over no rows is NaN in ClickHouse: no contacts, no value.
            measured[name] = Measured(float(r[name]) if n and r[name] is not None else None, n)
        out.append((r["tenant_id"], r["entity"], measured, int(r["fcr_provisional"])))
    return out


def scorecard(client: Any, by: str, goal: str, start: datetime, end: datetime,
              repeat_window_ms: int,
              goals: dict[str, Goal] | None = None,
              indicators: dict[str, Indicator] | None = None) -> list[EntityScore]:
    goals = goals or DEFAULT_GOALS
    indicators = indicators or DEFAULT_INDICATORS
    chosen = goals[goal]
    return [
        EntityScore(tenant, entity, score(chosen, indicators, measured), provisional)
        for tenant, entity, measured, provisional in measure(
            client, by, start, end, repeat_window_ms)
    ]


def rows_of(scores: list[EntityScore], by: str) -> tuple[list[str], list[list[Any]]]:
    """Flat columns for the table, CSV and JSON: the score and every indicator behind it."""
    if not scores:
        return ["tenant_id", by, "score"], []
    parts = scores[0].score.parts
    names = ["tenant_id", by, "score", "coverage", "fcr_provisional"]
    for p in parts:
        n = p.indicator.name
        names += [n, f"{n}_n", f"{n}_score", f"{n}_status"]
    rows = []
    for s in scores:
        row: list[Any] = [s.tenant_id, s.entity, _round(s.score.score),
                          round(s.score.coverage, 3), s.fcr_provisional]
        for p in s.score.parts:
            row += [_round(p.measured.value), p.measured.count, _round(p.score), p.status]
        rows.append(row)
    return names, rows


def score_rows(scores: list[EntityScore], by: str, start: datetime, end: datetime,
               policy_version: str, now: datetime) -> list[dict[str, Any]]:
    """`sqm.scorecard_scores` rows (migration 0011): one per entity and indicator."""
    return [
        {"period_start": start, "period_end": end, "goal": s.score.goal, "entity_kind": by,
         "tenant_id": s.tenant_id, "entity": s.entity, "indicator": p.indicator.name,
         "dimension": p.indicator.dimension, "value": p.measured.value, "n": p.measured.count,
         "target": p.indicator.target, "weight": p.weight, "indicator_score": p.score,
         "status": p.status, "score": s.score.score, "coverage": s.score.coverage,
         "fcr_provisional": s.fcr_provisional, "policy_version": policy_version,
         "computed_at": now}
        for s in scores for p in s.score.parts
    ]


def terminal_table(scores: list[EntityScore], by: str, width: int) -> tuple[Table, list[str]]:
    """The scorecard as a rich table at most `width` columns wide, and the indicators left out.

    Tenant and entity names are never cut. Cells take one line if every indicator fits so, else
    two; indicators that still do not fit are left out, the least weighted in the goal first
    (CSV and JSON hold them all)."""
    from rich.table import Table

    parts = scores[0].score.parts if scores else ()
    for sep in (" ", "\n"):
        columns = [("tenant", [s.tenant_id for s in scores]),
                   (by, [s.entity or "-" for s in scores]),
                   ("score", [_total(s.score, sep) for s in scores])]
        indicators = [(p.indicator.name, [_cell(s.score.parts[i], sep) for s in scores])
                      for i, p in enumerate(parts)]
        # A column takes its text, a space either side and a border; the table one more.
        used = 1 + sum(_width(c) + 3 for c in columns)
        shown: set[int] = set()
        for i in sorted(range(len(parts)), key=lambda i: -parts[i].weight):
            if used + _width(indicators[i]) + 3 <= width:
                used += _width(indicators[i]) + 3
                shown.add(i)
        if len(shown) == len(parts):
            break
    columns += [c for i, c in enumerate(indicators) if i in shown]
    table = Table(show_lines=sep == "\n")  # rows of two lines read better ruled apart
    for name, cells in columns:
        table.add_column(name, no_wrap=True, min_width=_width((name, cells)))
    for r in range(len(scores)):
        table.add_row(*(cells[r] for _, cells in columns))
    return table, [p.indicator.name for i, p in enumerate(parts) if i not in shown]


def _width(column: tuple[str, list[str]]) -> int:
    name, cells = column
    return max([len(name), *(len(line) for cell in cells for line in cell.splitlines())])


def _total(s: Score, sep: str) -> str:
    return "-" if s.score is None else f"{s.score:.2f}{sep}({s.coverage:.0%})"


def _cell(p: Part, sep: str) -> str:
    v = p.measured.value
    if v is None:
        return "-"
    shown = f"{v:.0f}{p.indicator.unit}" if p.indicator.unit else f"{v:.2f}"
    tail = f"{p.score:.2f}" if p.score is not None else p.status
    return f"{shown} n={p.measured.count}{sep}→ {tail}"


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 4)


_PERIOD = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?", re.ASCII)


def parse_period(text: str) -> timedelta:
    """`--period`: days, hours and minutes (`7d`, `24h`, `1d12h`), above zero."""
    from sqm.streams.config import ConfigError

    m = _PERIOD.fullmatch(text.strip())
    if not m or not any(m.groups()) or not any(int(n) for n in m.groups() if n):
        raise ConfigError(f"--period: expected a length like 24h, 7d or 30d, got {text!r}")
    days, hours, minutes = (int(n) if n else 0 for n in m.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def period_bounds(client: Any, period: str, end: str) -> tuple[datetime, datetime]:
    """`--period 7d --end now|latest|<RFC 3339>` as [start, end) in UTC."""
    from datetime import UTC

    from sqm.streams.config import ConfigError

    length = parse_period(period)
    if end == "now":
        stop = datetime.now(UTC)
    elif end == "latest":
        latest = client.query("SELECT maxOrNull(last_event_at) FROM sqm.contacts").result_rows[0][0]
        if latest is None:
            raise ConfigError("--end latest: the store holds no contacts")
        stop = latest.astimezone(UTC) + timedelta(milliseconds=1)
    else:
        try:
            stop = datetime.fromisoformat(end)
        except ValueError:
            raise ConfigError(f"--end: {end!r} is not now, latest or an RFC 3339 time") from None
        if stop.tzinfo is None:
            raise ConfigError(f"--end: {end!r} needs a UTC offset, e.g. +08:00 or Z")
    return stop - length, stop


def why_empty(client: Any, by: str, start: datetime, stop: datetime) -> str:
    """Why the scorecard of contacts created in [start, stop) has no row, in one line."""
    n, oldest, newest = client.query(
        "SELECT count(), min(created_at), max(created_at) FROM sqm.contacts "
        "WHERE created_at IS NOT NULL").result_rows[0]
    if not n:
        return "the store holds no contacts yet (sqm replay EVENTS --store DIR fills it)"
    if newest < start:
        return (f"no contacts created in this period: the store's newest was created "
                f"{newest:%Y-%m-%d %H:%M} UTC; --end latest ends the period at its newest event")
    if oldest >= stop:
        return (f"no contacts created in this period: the store's oldest was created "
                f"{oldest:%Y-%m-%d %H:%M} UTC, after its end")
    return f"no {by} has contacts created in this period"
