"""`sqm staffing`: `sqm.staffing_15m` with Erlang A where the data allows (docs/staffing.md).

The view gives each interval's arrivals, handle time, target and agents handling, and Erlang C
for the view's 80 %. This adds what SQL does not: Erlang C for another goal, and Erlang A
(streams/core/erlang_a.py) with the patience estimated per tenant, channel and queue over the
whole period (total time in queue / abandons: patience is the customers' and changes slowly;
one interval's few abandons would say little). With fewer than `MIN_ABANDONS` abandons in the
period, no patience is estimated and Erlang C stands.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqm.streams.core.erlang_a import agents_needed_a, patience_from_abandons
from sqm.streams.core.staffing import agents_needed_c

__all__ = ["COLUMNS", "MIN_ABANDONS", "SHORT_ABANDON_S", "staffing", "table_of"]

MIN_ABANDONS = 5
# Abandons this quick are left out of the service level (the default policy's short_abandon_s).
SHORT_ABANDON_S = 5.0

STAFFING_SQL = """
SELECT interval_start, tenant_id, channel, queue, offered, arrival_rate_per_s, handle_s_avg,
       target_answer_s, load_erlangs, agents_actual, abandoned, queue_time_s
FROM sqm.staffing_15m
WHERE interval_start >= {start:DateTime('UTC')} AND interval_start < {end:DateTime('UTC')}
  AND ({tenant:String} = '' OR tenant_id = {tenant:String})
ORDER BY interval_start, tenant_id, channel, queue
"""

COLUMNS = ["interval_start", "tenant_id", "channel", "queue", "offered", "handle_s_avg",
           "target_answer_s", "load_erlangs", "patience_s", "agents_needed_c",
           "agents_needed_a", "agents_actual", "agents_gap", "model"]

Scope = tuple[str, str, str]


def _patience(rows: list[dict[str, Any]]) -> dict[Scope, float]:
    abandons: dict[Scope, int] = defaultdict(int)
    queue_time: dict[Scope, float] = defaultdict(float)
    for r in rows:
        scope = (r["tenant_id"], r["channel"], r["queue"])
        abandons[scope] += int(r["abandoned"])
        queue_time[scope] += float(r["queue_time_s"])
    found = {}
    for scope, n in abandons.items():
        patience = patience_from_abandons(n, queue_time[scope]) if n >= MIN_ABANDONS else None
        if patience is not None:
            found[scope] = patience
    return found


def staffing(client: Any, start: datetime, end: datetime, goal: float, tenant: str = ""
             ) -> list[dict[str, Any]]:
    """One row per interval and scope: COLUMNS. `agents_gap` is actual − needed by `model`
    (A where a patience was estimated, else C); None where the needs are unknown."""
    result = client.query(STAFFING_SQL, parameters={"start": start, "end": end,
                                                    "tenant": tenant})
    rows = [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]
    patience = _patience(rows)
    out = []
    for r in rows:
        aht, target = r["handle_s_avg"], r["target_answer_s"]
        rate = float(r["arrival_rate_per_s"])
        scope_patience = patience.get((r["tenant_id"], r["channel"], r["queue"]))
        needed_c = needed_a = None
        if rate == 0.0:
            needed_c = 0
            needed_a = None if scope_patience is None else 0
        elif aht and target:  # arrivals with a handle time and a target: modelled
            needed_c = agents_needed_c(rate, aht, target, goal)
            if scope_patience is not None:
                try:
                    needed_a = agents_needed_a(rate, aht, scope_patience, target, goal,
                                               SHORT_ABANDON_S)
                except ValueError:  # patience far beyond the handle time: Erlang C it is
                    needed_a = None
        needed = needed_a if needed_a is not None else needed_c
        out.append({
            **{k: r[k] for k in ("interval_start", "tenant_id", "channel", "queue", "offered",
                                 "handle_s_avg", "target_answer_s", "load_erlangs")},
            "patience_s": scope_patience,
            "agents_needed_c": needed_c,
            "agents_needed_a": needed_a,
            "agents_actual": r["agents_actual"],
            "agents_gap": None if needed is None else int(r["agents_actual"]) - needed,
            "model": "" if needed is None else ("A" if needed_a is not None else "C"),
        })
    return out


def _round(value: float | None, digits: int = 0) -> str:
    if value is None:
        return ""
    return f"{value:.{digits}f}"


def table_of(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """The terminal's compact table: one scope column, times and loads rounded."""
    names = ["interval (UTC)", "tenant/channel/queue", "offered", "aht_s", "target_s",
             "erlangs", "patience_s", "need_c", "need_a", "actual", "gap"]
    cells = [
        [f"{r['interval_start']:%m-%d %H:%M}", f"{r['tenant_id']}/{r['channel']}/{r['queue']}",
         str(r["offered"]), _round(r["handle_s_avg"]), _round(r["target_answer_s"]),
         _round(r["load_erlangs"], 1), _round(r["patience_s"]),
         *("" if r[k] is None else str(r[k]) for k in ("agents_needed_c", "agents_needed_a")),
         str(r["agents_actual"]),
         "" if r["agents_gap"] is None else f"{r['agents_gap']:+d} ({r['model']})"]
        for r in rows
    ]
    return names, cells
