"""`sqm replay` with the alert stage in worker processes (`SQM_REPLAY_ALERT_PROCESSES`) writes
the same store as with it in the replay's process: every contact, window, event, alert and
dead letter, on three weeks of messy history in several chunks. The alerts' order inside each
chunk is checked in tests/unit/test_direct_workers.py."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.histories import arrival, history, to_json
from tests.integration.test_engines import QUERIES, tables

pytestmark = pytest.mark.integration


def replay(path: Path, store: Path, processes: int) -> str:
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "INFO", "SQM_REPLAY_ALERT_PROCESSES": str(processes)}
    run = subprocess.run([sys.executable, "-m", "sqm.streams.cli", "replay", str(path), "--store",
                          str(store), "--no-progress"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr, run.stderr  # nothing from the helper processes
    logged = run.stderr + run.stdout
    used = f"alert partitions in {processes} worker processes" in logged
    assert used == bool(processes), logged
    summary = re.search(r"replayed .*", run.stdout)
    assert summary, run.stdout
    return re.sub(r"in [\d.]+ s", "", summary.group(0))


def test_alert_workers_write_the_same_store(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    # Over 40k lines: several chunks of 20k lines, each one evaluate call per partition.
    events = arrival(history(8, weeks=3, contacts=7000, customers=1500), 8)
    path.write_bytes(b"\n".join(to_json(e) for e in events) + b"\n")
    here = replay(path, tmp_path / "here", 0)
    assert replay(path, tmp_path / "workers", 2) == here
    got, expected = tables(tmp_path / "workers"), tables(tmp_path / "here")
    assert got["contacts"] and got["windows"] and got["events"] and got["alerts"]
    for name in QUERIES:
        assert got[name] == expected[name], name
