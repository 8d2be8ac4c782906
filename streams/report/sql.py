"""Running a report query: parameters for the period and tenant, rows as plain JSON-ready dicts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

# Every query filters on the same two parameters; an empty tenant means all tenants.
TENANT = "({tenant:String} = '' OR tenant_id = {tenant:String})"
START, END = "{start:DateTime64(3, 'UTC')}", "{end:DateTime64(3, 'UTC')}"


@dataclass(frozen=True, slots=True)
class Scope:
    """The report's period [start, end), in whole UTC minutes, and its tenant (None: all)."""

    start: datetime
    end: datetime
    tenant: str | None = None

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "tenant": self.tenant or ""}


def in_period(column: str) -> str:
    return f"{column} >= {START} AND {column} < {END}"


def day_of(column: str) -> str:
    """The 24-hour bucket of the period holding `column` (calendar days when the period starts
    at midnight UTC), so no bucket is a partial day."""
    day = f"toStartOfInterval(toDateTime64({column}, 3, 'UTC'), toIntervalDay(1), {START})"
    return f"{day} AS day"


def plain(v: Any) -> Any:
    """A ClickHouse value as JSON: Decimal -> float, instants -> RFC 3339 UTC, NaN -> None."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and math.isnan(v):
        return None  # avgIf over no rows is NaN in ClickHouse: no contacts, no value
    if isinstance(v, datetime):
        return iso(v)
    if isinstance(v, date):
        return v.isoformat()
    return v


def iso(t: datetime) -> str:
    t = t.astimezone(UTC)
    text = t.isoformat(timespec="milliseconds" if t.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def rows(client: Any, sql: str, scope: Scope, **extra: Any) -> list[dict[str, Any]]:
    result = client.query(sql, parameters={**scope.params(), **extra})
    names = list(result.column_names)
    return [{n: plain(v) for n, v in zip(names, row, strict=True)} for row in result.result_rows]


def grouping(keys: list[str]) -> tuple[str, str]:
    """`expr AS name` keys as a SELECT prefix and a `GROUP BY ... ORDER BY ...` suffix."""
    names = [k.rsplit(" AS ", 1)[-1] for k in keys]
    if not names:
        return "", ""
    listed = ", ".join(names)
    return "".join(f"{k}, " for k in keys), f"GROUP BY {listed} ORDER BY {listed}"
