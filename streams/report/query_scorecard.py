"""The scorecard per agent and team (queue), and FCR per channel, exactly as `sqm scorecard`
computes them: `streams.scorecard_report.measure` reads `sqm.scorecard_indicators` and
`streams.core.scorecard.score` scores it (docs/scorecard.md)."""

from __future__ import annotations

from typing import Any

from sqm.streams.core.scorecard import Goal, Indicator, Measured, Part, score
from sqm.streams.report.sql import Scope
from sqm.streams.scorecard_report import measure


def scorecards(client: Any, scope: Scope, repeat_window_ms: int, goals: dict[str, Goal],
               indicators: dict[str, Indicator]) -> dict[str, list[dict[str, Any]]]:
    """Per entity kind: each entity's score on every goal and every indicator behind them."""
    return {by: [_entity(tenant, entity, measured, provisional, goals, indicators)
                 for tenant, entity, measured, provisional in _measure(
                     client, by, scope, repeat_window_ms)]
            for by in ("agent", "queue")}


def fcr_by_channel(client: Any, scope: Scope, repeat_window_ms: int) -> list[dict[str, Any]]:
    """First-contact resolution and repeat rate per tenant and channel (the scorecard's)."""
    out = []
    for tenant, channel, m, provisional in _measure(client, "channel", scope, repeat_window_ms):
        out.append({"tenant_id": tenant, "channel": channel, "contacts": m["fcr_rate"].count,
                    "fcr_rate": m["fcr_rate"].value, "fcr_provisional": provisional,
                    "repeat_rate": m["repeat_rate"].value})
    return out


def _measure(client: Any, by: str, scope: Scope, repeat_window_ms: int
             ) -> list[tuple[str, str, dict[str, Measured], int]]:
    measured = measure(client, by, scope.start, scope.end, repeat_window_ms)
    return [m for m in measured if scope.tenant is None or m[0] == scope.tenant]


def _entity(tenant: str, entity: str, measured: dict[str, Measured], provisional: int,
            goals: dict[str, Goal], indicators: dict[str, Indicator]) -> dict[str, Any]:
    # Each indicator scored on its own (one goal weighting it alone): the measured ones and
    # those a goal weights but cannot be measured here (answered rate per agent: `none`). A
    # score and status never depend on the goal.
    wanted = set(measured).union(*(g.weights for g in goals.values()))
    alone = score(Goal("_each", {n: 1.0 for n in indicators if n in wanted}), indicators,
                  measured)
    return {
        "tenant_id": tenant, "entity": entity, "fcr_provisional": provisional,
        "scores": {name: _goal_score(score(goal, indicators, measured))
                   for name, goal in goals.items()},
        "indicators": {p.indicator.name: _part(p) for p in alone.parts},
    }


def _goal_score(s: Any) -> dict[str, Any]:
    return {"score": s.score, "coverage": s.coverage,
            "weights": {p.indicator.name: p.weight for p in s.parts}}


def _part(p: Part) -> dict[str, Any]:
    ind = p.indicator
    return {"value": p.measured.value, "n": p.measured.count, "score": p.score,
            "status": p.status, "target": ind.target, "direction": ind.direction,
            "dimension": ind.dimension, "min_count": ind.min_count, "unit": ind.unit}
