"""Every table of a store, as comparable rows: what "the same results" means for a replay
interrupted by a fault (an outage, a kill) against an uninterrupted one.

`FINAL` rows of every ReplacingMergeTree table the pipeline writes, and the staffing view, all
columns except those stamped with the wall clock of the write (two runs differ there by
design); sorted. Versions, alert ids and every value are compared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqm.sinks.clickhouse import connect

WALL_CLOCK = {
    "events": ("ingested_at",),
    "contacts": ("updated_at",),
    "sla_1m": ("updated_at",),
    "alerts": ("updated_at",),
    "dead_letters": ("received_at",),
    "dropped_corrections": ("recorded_at",),
}
VIEWS = ("staffing_15m",)


# sla_1m versions carry the state's generation (the wall clock at its start) above the input
# offset: the offset part is compared.
OFFSET_ONLY = {"sla_1m": "bitAnd(version, 34359738367) AS offset_version"}


def _sql(table: str) -> str:
    skip = WALL_CLOCK.get(table, ())
    if table in OFFSET_ONLY:
        skip = (*skip, "version")
    cols = f"* EXCEPT ({', '.join(skip)})" if skip else "*"
    if table in OFFSET_ONLY:
        cols += f", {OFFSET_ONLY[table]}"
    final = "" if table in VIEWS else " FINAL"
    return f"SELECT {cols} FROM sqm.{table}{final} ORDER BY ALL"


# On the Faust engine a line without a key (an invalid one) goes to any partition: its dead
# letter's id, partition and offset are where it landed, not what it was.
FAUST_DEAD_LETTERS = ("SELECT stage, reason, event_id, tenant_id, raw, raw_truncated "
                      "FROM sqm.dead_letters FINAL ORDER BY ALL")


def _row(values: Any) -> tuple[Any, ...]:
    # The staffing view's float aggregates depend on the order ClickHouse sums parts in.
    return tuple(round(v, 9) if isinstance(v, float) else v for v in values)


def store_tables(store: Path, *, engine: str = "direct") -> dict[str, list[tuple[Any, ...]]]:
    client = connect(f"chdb://{store}")
    try:
        out = {t: [_row(r) for r in client.query(_sql(t)).result_rows]
               for t in (*WALL_CLOCK, *VIEWS)}
        if engine == "faust":
            # Its sla_1m offsets are those of the internal topic, batched as it happened.
            out["sla_1m"] = [r[:-1] for r in out["sla_1m"]]
            out["dead_letters"] = [tuple(r) for r in client.query(FAUST_DEAD_LETTERS).result_rows]
        return out
    finally:
        client.close()


def differences(got: dict[str, list[tuple[Any, ...]]],
                expected: dict[str, list[tuple[Any, ...]]]) -> dict[str, str]:
    """Per table that differs: how (row counts, first differing row)."""
    out = {}
    for table, rows in expected.items():
        other = got.get(table, [])
        if other != rows:
            first = next((i for i, (a, b) in enumerate(zip(other, rows, strict=False)) if a != b),
                         min(len(other), len(rows)))
            out[table] = (f"{len(other)} rows against {len(rows)}; first difference at row "
                          f"{first}: {other[first:first + 1]} against {rows[first:first + 1]}")
    return out
