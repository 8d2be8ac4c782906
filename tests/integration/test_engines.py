"""`sqm replay` on both engines gives the same store: the direct runner (the default: the stages
in-process, straight from the file) and the streaming path (`--engine faust`: the embedded
broker and the Faust agents). Compared on the held-in messy file and on three weeks of messy
history: every contact row, every window (summed over shards), every stored event, every alert
(`FINAL`), and the dead letters (stage, event and reason)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.histories import arrival, history, to_json
from tests.integration.test_replay import DATA, opened, q

pytestmark = pytest.mark.integration

QUERIES = {
    "contacts": "SELECT * EXCEPT (updated_at, version) FROM sqm.contacts FINAL ORDER BY ALL",
    "windows": """
        SELECT window_start, tenant_id, channel, queue, priority, sum(offered), sum(answered),
               sum(answered_in_sla), sum(wait_s_sum), sum(abandoned), sum(short_abandoned),
               sum(created), sum(repeat_contacts), sum(sl_met), sum(sl_missed),
               sum(csat_count), sum(csat_sum), sum(csat_good)
        FROM sqm.sla_1m FINAL GROUP BY ALL
        HAVING sum(offered + answered + abandoned + created + csat_count) > 0 ORDER BY ALL""",
    "events": "SELECT * EXCEPT (ingested_at) FROM sqm.events FINAL ORDER BY event_id",
    "alerts": "SELECT * FROM sqm.alerts FINAL ORDER BY alert_id",
    "dead_letters": "SELECT stage, event_id, reason FROM sqm.dead_letters FINAL ORDER BY ALL",
}


def replay(path: Path, store: Path, engine: str) -> str:
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "WARNING"}
    run = subprocess.run([sys.executable, "-m", "sqm.streams.cli", "replay", str(path), "--store",
                          str(store), "--no-progress", "--engine", engine],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    summary = re.search(r"replayed .*", run.stdout)
    assert summary, run.stdout
    return summary.group(0)


def tables(store: Path) -> dict[str, list[tuple]]:
    with opened(store) as c:
        out = {name: q(c, sql) for name, sql in QUERIES.items()}
    # A future-dated event's reason says how far ahead of the wall clock it was.
    out["dead_letters"] = [(s, e, re.sub(r"\d+ s in the future", "N s in the future", r))
                           for s, e, r in out["dead_letters"]]
    return out


@pytest.mark.parametrize("source", ["messy", "history"])
def test_both_engines_write_the_same_store(source: str, tmp_path: Path) -> None:
    if source == "messy":
        path = DATA / "messy.jsonl"
    else:
        path = tmp_path / "history.jsonl"
        events = arrival(history(8, weeks=3, contacts=300, customers=50), 8)
        path.write_bytes(b"\n".join(to_json(e) for e in events) + b"\n")
    direct = replay(path, tmp_path / "direct", "direct")
    faust = replay(path, tmp_path / "faust", "faust")
    # The same counts (the time taken differs).
    assert re.sub(r"in [\d.]+ s", "", direct) == re.sub(r"in [\d.]+ s", "", faust)
    got, expected = tables(tmp_path / "direct"), tables(tmp_path / "faust")
    assert got["contacts"] and got["windows"] and got["events"]
    for name in QUERIES:
        assert got[name] == expected[name], name


def test_the_direct_runner_names_the_file_and_line_of_a_dead_letter(tmp_path: Path) -> None:
    store = tmp_path / "store"
    replay(DATA / "messy.jsonl", store, "direct")
    with opened(store) as c:
        rows = q(c, "SELECT dl_id, topic, offset FROM sqm.dead_letters FINAL ORDER BY offset")
    # Lines 11 (cut short), 12 (no tenant_id), 13 (dated 2099) and 21 (no time-zone offset).
    assert rows == [(f"messy.jsonl:{n}", "messy.jsonl", n) for n in (11, 12, 13, 21)]
