"""One simulated week replayed into a chDB store, `sqm report` run on it twice (all tenants,
defaults; one tenant, an explicit end), and the store's raw rows read back for the tests to
recompute every number on their own. Built once per session: the report tests share it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from sqm.sinks.clickhouse import connect

ROOT = Path(__file__).parents[3]
SCRIPT = re.compile(r'<script type="application/json" id="sqm-report-data">(.*?)</script>', re.S)
# The explicit report: one tenant, three days up to 12:30 +08:00 (rounded up to 13:00).
TENANT_ARGS = ["--tenant", "shop-2", "--period", "3d", "--end", "2026-03-07T12:30:00+08:00"]


def sqm(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sqm.streams.cli", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd,
                          env={"PATH": os.environ.get("PATH", ""), "TZ": "UTC",
                               "PYTHONPATH": str(ROOT)})


def data_of(html: str) -> dict[str, Any]:
    [blob] = SCRIPT.findall(html)
    return orjson.loads(blob)


@dataclass
class Report:
    path: Path
    html: str
    data: dict[str, Any]
    tenant: str | None
    start: datetime
    end: datetime


@dataclass
class Raw:
    """The store's rows, read with FINAL, as the tests' independent source."""

    contacts: list[dict[str, Any]]
    sla: list[dict[str, Any]]  # sqm.sla_1m FINAL: per shard, to be summed
    alerts: list[dict[str, Any]]
    horizon: datetime  # newest event stored


@dataclass
class Built:
    store: Path
    reports: dict[str, Report]
    raw: Raw
    # `sqm scorecard --format json` for each report's period: (report, by, goal) -> rows.
    scorecards: dict[tuple[str, str, str], list[dict[str, Any]]]


def _rows(client: Any, sql: str) -> list[dict[str, Any]]:
    result = client.query(sql)
    return [dict(zip(result.column_names, r, strict=True)) for r in result.result_rows]


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("report")
    events, store = tmp / "events.jsonl", tmp / "store"
    for args in (["simulate", str(events), "--days", "7", "--contacts", "3000", "--messy"],
                 ["replay", str(events), "--store", str(store), "--no-progress"]):
        run = sqm(*args)
        assert run.returncode == 0, run.stderr
    reports = {}
    for name, args in (("all", []), ("tenant", TENANT_ARGS)):
        out = tmp / f"{name}.html"
        run = sqm("report", "--store", str(store), "--out", str(out), *args)
        assert run.returncode == 0, run.stderr
        assert run.stdout.startswith(f"wrote {out}"), run.stdout
        html = out.read_text()
        data = data_of(html)
        period = data["meta"]["period"]
        reports[name] = Report(out, html, data, data["meta"]["tenant"],
                               datetime.fromisoformat(period["start"]),
                               datetime.fromisoformat(period["end"]))
    # The scorecard command on the same periods, before this process opens the store itself.
    scorecards = {}
    for name, r in reports.items():
        days = (r.end - r.start).days
        for by in ("queue", "agent"):
            for goal in ("satisfaction", "efficiency"):
                run = sqm("scorecard", "--store", str(store), "--by", by, "--goal", goal,
                          "--period", f"{days}d", "--end", r.end.isoformat(), "--format", "json")
                assert run.returncode == 0, run.stderr
                scorecards[(name, by, goal)] = [
                    row for row in orjson.loads(run.stdout)
                    if r.tenant is None or row["tenant_id"] == r.tenant]
    client = connect(f"chdb://{store}")
    try:
        raw = Raw(
            contacts=_rows(client, "SELECT * FROM sqm.contacts FINAL"),
            sla=_rows(client, "SELECT * FROM sqm.sla_1m FINAL"),
            alerts=_rows(client, "SELECT * FROM sqm.alerts FINAL"),
            horizon=client.query("SELECT max(last_event_at) FROM sqm.contacts FINAL")
            .result_rows[0][0],
        )
    finally:
        client.close()
    return Built(store, reports, raw, scorecards)
