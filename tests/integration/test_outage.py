"""ClickHouse unreachable for ~10 s in the middle of `sqm replay`, on both engines: the run
waits it out (input paused), does not crash, and the store equals an uninterrupted replay's,
every table (tests/store_tables.py).

The outage is injected at the client boundary (sinks/faults.py, run through `python -m
sinks.faults`): every call raises what clickhouse-connect's HTTP client raises for a refused
connection or a read timeout; in the timeout case every other insert lands before its answer
is "lost", so replaying it must be harmless.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.store_tables import differences, store_tables

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SQM_LOG_LEVEL": "WARNING",
       "SQM_LOG_FORMAT": "text", "PYTHONPATH": str(ROOT)}


def sqm(*args: str, faults: tuple[int, float, str] | None = None,
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    prefix = ["-m", "sqm.streams.cli"] if faults is None else [
        "-m", "sqm.sinks.faults", *map(str, faults)]
    return subprocess.run([sys.executable, *prefix, *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def events(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("outage") / "events.jsonl"
    run = sqm("simulate", str(path), "--contacts", "1500", "--days", "2", "--messy")
    assert run.returncode == 0, run.stderr
    return path


@pytest.mark.parametrize(("engine", "after", "kind"), [
    ("direct", 3, "refused"), ("direct", 3, "timeout"), ("faust", 2, "refused")])
def test_a_10_s_outage_is_waited_out_and_the_store_is_exact(
        engine: str, after: int, kind: str, events: Path, tmp_path: Path) -> None:
    clean = sqm("replay", str(events), "--store", str(tmp_path / "clean"), "--no-progress",
                "--engine", engine)
    assert clean.returncode == 0, clean.stderr
    run = sqm("replay", str(events), "--store", str(tmp_path / "outage"), "--no-progress",
              "--engine", engine, faults=(after, 10, kind))
    assert run.returncode == 0, run.stderr[-3000:]
    report = orjson.loads(re.findall(r"^FAULTS (.*)$", run.stderr, re.M)[-1])
    assert report["refused"] > 0 and report["outage_s"] >= 10, report
    # One line down, one line back, not one per retry.
    assert len(re.findall(r"ClickHouse unavailable", run.stderr)) == 1, run.stderr[-3000:]
    back = re.findall(r"ClickHouse back after (\d+\.\d) s \(\d+ retries\)", run.stderr)
    assert len(back) == 1 and float(back[0]) >= 10, run.stderr[-3000:]
    summary = re.search(r"replayed .*", run.stdout)
    assert summary and re.sub(r"in [\d.]+ s", "", summary.group(0)) == re.sub(
        r"in [\d.]+ s", "", re.search(r"replayed .*", clean.stdout).group(0))  # type: ignore[union-attr]
    expected = store_tables(tmp_path / "clean", engine=engine)
    assert expected["events"] and expected["alerts"] and expected["sla_1m"]
    assert differences(store_tables(tmp_path / "outage", engine=engine), expected) == {}
    assert report["peak_rss_mb"] < 1500, report  # bounded: no backlog piles up in memory


def test_an_outage_past_the_budget_ends_the_direct_replay_in_one_line(tmp_path: Path) -> None:
    """A write that fails for good mid-replay (its rows past `SQM_CLICKHOUSE_OUTAGE_S`) ends
    the replay with one line and exit code 1, whatever chunk the runner waits on: not a hang
    (two chunks later, the read-back waits for that write's rows)."""
    events = tmp_path / "events.jsonl"  # ~26k lines: four chunks
    made = sqm("simulate", str(events), "--contacts", "4000", "--days", "2")
    assert made.returncode == 0, made.stderr
    env = {**ENV, "SQM_CLICKHOUSE_OUTAGE_S": "1"}
    run = subprocess.run([sys.executable, "-m", "sqm.sinks.faults", "3", "60", "refused",
                          "replay", str(events), "--store", str(tmp_path / "s"), "--no-progress"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert re.search(r"unavailable for \d\.\d s, over the outage budget", run.stderr), \
        run.stderr[-3000:]
