"""Every ClickHouse query in the committed Grafana files, each under a stable key.

Keys: `<board uid>/panel/<id>/<refId>`, `<board uid>/variable/<name>`,
`<board uid>/annotation/<name>`, `alert/<rule uid>/<refId>`. Prometheus queries (panels and
rules) are listed apart by `prometheus_targets`: no Prometheus runs here, so only their shape
and text can be checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from sqm.dashboards.build import ALERTS_FILE, BOARDS, DASHBOARDS_DIR, PROJECT_ROOT
from sqm.dashboards.query import DATASOURCE_TYPE

Origin = Literal["panel", "variable", "annotation", "alert"]


@dataclass(frozen=True)
class Target:
    key: str
    origin: Origin
    sql: str
    format: int  # 0 time series, 1 table (variables: a table)
    json: dict[str, Any] | None  # the target object; None for string variable queries
    panel_type: str | None = None
    relative_time_range: dict[str, int] | None = None  # alert queries only


def committed_boards(root: Path = PROJECT_ROOT) -> dict[str, dict[str, Any]]:
    return {
        uid: json.loads((root / DASHBOARDS_DIR / f"{uid}.json").read_text(encoding="utf-8"))
        for uid in BOARDS
    }


def committed_alerts(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((root / ALERTS_FILE).read_text(encoding="utf-8"))
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels inside (collapsed) rows


def _is_clickhouse(target: dict[str, Any]) -> bool:
    return bool((target.get("datasource") or {}).get("type") == DATASOURCE_TYPE)


def board_targets(uid: str, board: dict[str, Any]) -> Iterator[Target]:
    for panel in panels(board):
        for target in panel.get("targets", []):
            if not _is_clickhouse(target):
                continue  # Prometheus: prometheus_targets()
            yield Target(
                f"{uid}/panel/{panel['id']}/{target['refId']}", "panel", target["rawSql"],
                target["format"], target, panel["type"],
            )
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            sql = query if isinstance(query, str) else query["rawSql"]
            yield Target(
                f"{uid}/variable/{variable['name']}", "variable", sql, 1,
                None if isinstance(query, str) else query,
            )
    for annotation in board["annotations"]["list"]:
        if annotation.get("datasource", {}).get("type") == DATASOURCE_TYPE:
            target = annotation["target"]
            yield Target(
                f"{uid}/annotation/{annotation['name']}", "annotation", target["rawSql"],
                target["format"], target,
            )


def alert_targets(document: dict[str, Any]) -> Iterator[Target]:
    for group in document["groups"]:
        for rule in group["rules"]:
            for query in rule["data"]:
                model = query["model"]
                if model.get("datasource", {}).get("type") == DATASOURCE_TYPE:
                    yield Target(
                        f"alert/{rule['uid']}/{query['refId']}", "alert", model["rawSql"],
                        model["format"], model, None, query["relativeTimeRange"],
                    )


def all_targets(root: Path = PROJECT_ROOT) -> list[Target]:
    found = [t for uid, board in committed_boards(root).items() for t in board_targets(uid, board)]
    return found + list(alert_targets(committed_alerts(root)))


def prometheus_targets(root: Path = PROJECT_ROOT) -> dict[str, dict[str, Any]]:
    """Every Prometheus query, `<board uid>/panel/<id>/<refId>` or `alert/<rule uid>/<refId>`
    → the query object (a panel target, or a rule query's model)."""
    found: dict[str, dict[str, Any]] = {}
    for uid, board in committed_boards(root).items():
        for panel in panels(board):
            for target in panel.get("targets", []):
                if (target.get("datasource") or {}).get("type") == "prometheus":
                    found[f"{uid}/panel/{panel['id']}/{target['refId']}"] = target
    for group in committed_alerts(root)["groups"]:
        for rule in group["rules"]:
            for query in rule["data"]:
                if (query["model"].get("datasource") or {}).get("type") == "prometheus":
                    found[f"alert/{rule['uid']}/{query['refId']}"] = query["model"]
    return found
