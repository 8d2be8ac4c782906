"""Three weeks of messy history through `sqm replay` (the real CLI and chDB) at 1, 4 and 8
partitions, two batch sizes, and in small chunks of the direct runner (evicted contacts then
come back through the store): every contact row and every one-minute window equals
the reference (one ordered pass over every event), nothing is dropped, and the alerts are the
same rows in every run. The history crosses the state TTL (8 days) many times over, and has
long-lived contacts (reopened ten days later, surveyed two weeks later)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import reference
from tests.histories import arrival, history, to_json
from tests.integration.test_replay import opened, q

pytestmark = pytest.mark.integration

NAMES = ("offered", "answered", "answered_in_sla", "wait_ms_sum", "abandoned",
         "short_abandoned", "created", "repeat_contacts", "sl_met", "sl_missed",
         "csat_count", "csat_sum", "csat_good")


# The direct runner with small chunks: its sweeps evict between chunks, so long-lived contacts
# come back through the store (written a chunk or two before) instead of from state.
SMALL_CHUNKS = """
import sys
import sqm.streams.direct_feed as feed

feed.FIRST_CHUNK_LINES, feed.CHUNK_LINES = 50, int(sys.argv.pop(1))
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[1:]]
main()
"""


def replay(path: Path, store: Path, partitions: int, batch_max: int,
           chunk_lines: int | None = None) -> str:
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "WARNING", "SQM_PARTITIONS": str(partitions),
           "SQM_BATCH_MAX": str(batch_max)}
    program = (["-m", "sqm.streams.cli"] if chunk_lines is None
               else ["-c", SMALL_CHUNKS, str(chunk_lines)])
    run = subprocess.run([sys.executable, *program, "replay", str(path), "--store",
                          str(store), "--no-progress"], capture_output=True, text=True,
                         timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_weeks_of_history_are_exact_at_every_partition_count(tmp_path: Path) -> None:
    events = history(5, weeks=3, contacts=450, customers=60)
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(to_json(e) for e in arrival(events, 5)) + b"\n")
    ref_contacts = reference.contacts(events)
    ref_windows = reference.windows(events)
    alerts = []
    for partitions, batch_max, chunk_lines in ((1, 5000, None), (4, 5000, None), (8, 40, None),
                                               (4, 5000, 400)):
        store = tmp_path / f"store-{partitions}-{batch_max}-{chunk_lines}"
        stdout = replay(path, store, partitions, batch_max, chunk_lines)
        assert "NOT EXACT" not in stdout and ", 0 dead-lettered" in stdout, stdout
        with opened(store) as c:
            got = {(r[0], r[1]): r[2:] for r in q(c, """
                SELECT tenant_id, contact_id, toUnixTimestamp64Milli(created_at),
                       toUnixTimestamp64Milli(answered_at), is_repeat, csat, reopen_count,
                       toInt64OrNull(toString(resolution_s * 1000)), event_count
                FROM sqm.contacts FINAL""")}
            assert got == {k: (v["created_at"], v["answered_at"], v["is_repeat"], v["csat"],
                               v["reopen_count"], v["resolution_ms"], v["event_count"])
                           for k, v in ref_contacts.items()}, partitions
            rows = q(c, """
                SELECT toUnixTimestamp(window_start) * 1000, tenant_id, channel, queue,
                       priority, sum(offered), sum(answered), sum(answered_in_sla),
                       toInt64(sum(wait_s_sum) * 1000), sum(abandoned), sum(short_abandoned),
                       sum(created), sum(repeat_contacts), sum(sl_met), sum(sl_missed),
                       sum(csat_count), sum(csat_sum), sum(csat_good)
                FROM sqm.sla_1m FINAL GROUP BY ALL""")
            windows = {r[:5]: dict(zip(NAMES, r[5:], strict=True)) for r in rows if any(r[5:])}
            assert windows == ref_windows, partitions
            assert q(c, "SELECT count() FROM sqm.dropped_corrections FINAL") == [(0,)]
            alerts.append(q(c, """
                SELECT alert_id, rule_id, state, started_at, ended_at, value, contact_id
                FROM sqm.alerts FINAL ORDER BY alert_id"""))
    assert alerts[0], "the history raises alerts"
    assert alerts[1] == alerts[0]
    assert alerts[2] == alerts[0]
    assert alerts[3] == alerts[0]
