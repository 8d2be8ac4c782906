"""`sqm simulate --days N`: the arrival profile, returning customers, long-lived contacts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from sqm.streams.arrival_profile import DAILY, WEEKLY, rate, tenant_zone
from sqm.streams.simulate import SimConfig
from sqm.streams.simulate_days import MAX_SWAP, history_days

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
DAYS = 28  # four whole weeks: every weekday equally often
ZONES = {"shop-1": "Asia/Shanghai", "shop-2": "Europe/Berlin", "shop-3": "America/New_York"}


def at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


@pytest.fixture(scope="module")
def events() -> list[dict[str, Any]]:
    out = [e for e in history_days(4000, START, DAYS, SimConfig(seed=11))]
    assert all(isinstance(e, dict) for e in out)  # not messy: events only
    return out  # type: ignore[return-value]


def created(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "contact.created"]


def test_every_event_falls_within_the_days(events: list[dict[str, Any]]) -> None:
    times = [at(e) for e in events]
    assert START <= min(times) < START + timedelta(days=1)
    assert START + timedelta(days=DAYS - 1) <= max(times) < START + timedelta(days=DAYS)
    assert times == sorted(times)  # emitted in event-time order
    assert len(created(events)) == 4000  # --contacts is the total


def test_nights_are_lighter_than_peak_hours_in_each_tenants_time_zone(
    events: list[dict[str, Any]],
) -> None:
    for tenant, zone in ZONES.items():
        per_hour = Counter(at(e).astimezone(ZoneInfo(zone)).hour
                           for e in created(events) if e["tenant_id"] == tenant)
        night = sum(per_hour[h] for h in range(1, 6)) / 5
        peak = sum(per_hour[h] for h in (10, 11, 14, 15)) / 4
        assert night < peak / 5, (tenant, dict(per_hour))


def test_weekends_are_lighter(events: list[dict[str, Any]]) -> None:
    for tenant, zone in ZONES.items():
        per_day = Counter(at(e).astimezone(ZoneInfo(zone)).weekday()
                          for e in created(events) if e["tenant_id"] == tenant)
        weekday = sum(per_day[d] for d in range(5)) / 5
        weekend = (per_day[5] + per_day[6]) / 2
        assert weekend < 0.75 * weekday, (tenant, dict(per_day))


def test_customers_come_back_within_and_beyond_the_repeat_window(
    events: list[dict[str, Any]],
) -> None:
    visits: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for e in created(events):
        visits[(e["tenant_id"], e["customer_id"])].append(at(e))
    gaps = [b - a for times in visits.values() for a, b in pairwise(times)]
    within = sum(g <= timedelta(days=7) for g in gaps)
    beyond = sum(g > timedelta(days=7) for g in gaps)
    assert within > 400 and beyond > 40, (within, beyond)
    assert len(visits) < 0.85 * 4000  # fewer customers than contacts


def test_a_few_contacts_outlive_the_state_ttl(events: list[dict[str, Any]]) -> None:
    spans: dict[str, list[datetime]] = defaultdict(list)
    for e in events:
        spans[e["contact_id"]].append(at(e))
    long_lived = [c for c, ts in spans.items() if max(ts) - min(ts) > timedelta(days=8)]
    assert 20 <= len(long_lived) <= 0.05 * len(spans), len(long_lived)
    kinds = Counter(e["type"] for e in events if e["contact_id"] in set(long_lived)
                    and at(e) - min(spans[e["contact_id"]]) > timedelta(days=8))
    assert kinds["contact.reopened"] and kinds["survey.submitted"], kinds


def test_the_same_seed_gives_the_same_history() -> None:
    def run(seed: int) -> list[dict[str, Any] | str]:
        return list(history_days(300, START, 10, SimConfig(seed=seed), messy=True))

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_messy_keeps_its_mess_and_its_disorder_small() -> None:
    lines = list(history_days(3000, START, 30, SimConfig(seed=2), messy=True))
    invalid = [e for e in lines if isinstance(e, str)]
    events = [e for e in lines if isinstance(e, dict)]
    assert invalid
    assert len(events) > len({e["event_id"] for e in events})  # re-deliveries
    assert any(e["occurred_at"].endswith("+08:00") for e in events)
    newest = at(events[0])
    behind = timedelta(0)
    for e in events:
        behind = max(behind, newest - at(e))
        newest = max(newest, at(e))
    # Disordered, but never by more than a swap's reach: no event becomes late.
    assert timedelta(0) < behind <= MAX_SWAP


def test_the_profile_is_read_in_local_time() -> None:
    # 02:00 UTC on a Monday is 10:00 in Shanghai, 03:00 in Berlin, Sunday 21:00 in New York.
    t = datetime(2026, 3, 2, 2, tzinfo=UTC)
    assert rate(t, tenant_zone(0)) == DAILY[10] * WEEKLY[0]
    assert rate(t, tenant_zone(1)) == DAILY[3] * WEEKLY[0]
    assert rate(t, tenant_zone(2)) == DAILY[21] * WEEKLY[6]


@pytest.mark.parametrize(("contacts", "days", "start", "message"), [
    (10, 0, START, "--days must be at least 1"),
    (10, -2, START, "--days must be at least 1"),
    (0, 3, START, "--contacts must be at least 1"),
    (10, 3, datetime(2026, 3, 2), "time-zone offset"),  # noqa: DTZ001 (the point of the test)
])
def test_bad_arguments_are_refused(contacts: int, days: int, start: datetime,
                                   message: str) -> None:
    with pytest.raises(ValueError, match=message):
        next(history_days(contacts, start, days))


@pytest.mark.parametrize(("args", "message"), [
    (["--days", "0"], "--days must be at least 1, got 0"),
    (["--days", "-1"], "--days must be at least 1, got -1"),
    (["--days", "3", "--per-second", "2"], "exclude each other"),
])
def test_the_command_refuses_bad_options_in_one_line(
    tmp_path: Path, args: list[str], message: str,
) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "simulate", str(tmp_path / "out.jsonl"), *args],
        capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "out.jsonl").exists()


def test_the_command_writes_the_history(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "simulate", str(out), "--days", "9",
         "--contacts", "500", "--seed", "3"],
        capture_output=True, text=True, timeout=120,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert run.returncode == 0, run.stderr
    written = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert written == list(history_days(500, datetime.fromisoformat("2026-03-02T09:00:00+08:00"),
                                        9, SimConfig(seed=3)))
    assert "over 9 days" in run.stdout
