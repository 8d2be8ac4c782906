"""Helper processes (ingest validation, the direct runner's alert workers) are forked from one
fork server that imported their code once, not each spawned to import it again; and none of
them, the server included, outlives a worker killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sqm.streams import direct_feed, helper_processes
from sqm.streams.core.alerting import parse_config
from sqm.streams.direct_workers import AlertPartitions
from sqm.streams.ingest_pool import IngestRouter
from tests.unit.test_ingest_pool import alive

ROOT = Path(__file__).resolve().parents[2]


def parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def started(router: IngestRouter, alerts: AlertPartitions) -> list[int]:
    deadline = time.monotonic() + 30
    while len(router.pids + alerts.pids()) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    return router.pids + alerts.pids()


def test_helpers_are_forked_from_one_server() -> None:
    router = IngestRouter(1)
    router.start()
    alerts = AlertPartitions(4, parse_config({"rules": []}), 0, 2)
    try:
        pids = started(router, alerts)
        assert len(pids) == 3
        parents = {parent_of(pid) for pid in pids}
        assert len(parents) == 1 and os.getpid() not in parents  # the server, not this process
    finally:
        router.close()
        alerts.close()


WORKER = """
import sys, time
sys.path.insert(0, {root!r})
from sqm.streams.core.alerting import parse_config
from sqm.streams.direct_workers import AlertPartitions
from sqm.streams.ingest_pool import IngestRouter
from tests.unit.test_helper_processes import parent_of, started
router = IngestRouter(1)
router.start()
alerts = AlertPartitions(4, parse_config({{"rules": []}}), 0, 2)
pids = started(router, alerts)
print(*pids, parent_of(pids[0]), flush=True)
time.sleep(60)
"""


def test_no_helper_outlives_a_killed_worker() -> None:
    worker = subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT))],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert worker.stdout is not None
        pids = [int(x) for x in worker.stdout.readline().split()]
        assert len(pids) == 4 and all(alive(pid) for pid in pids)  # 3 helpers and the server
        worker.kill()
        worker.wait()
        deadline = time.monotonic() + 10
        while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not [pid for pid in pids if alive(pid)], "a helper outlived its killed worker"
    finally:
        worker.kill()


def test_a_large_replay_starts_the_fork_server_before_the_cli_imports(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    large, small = tmp_path / "large.jsonl", tmp_path / "small.jsonl"
    large.write_bytes(b"x" * (helper_processes.LARGE_FILE_BYTES + 1))
    small.write_bytes(b"x" * 100)
    calls: list[int] = []
    monkeypatch.setattr(helper_processes, "start", lambda: calls.append(1))
    monkeypatch.delenv("SQM_HELPER_PROCESS", raising=False)

    def starts(*argv: str) -> bool:
        calls.clear()
        helper_processes.start_for_replay(list(argv))
        return bool(calls)

    assert starts("replay", str(large), "--store", str(tmp_path))
    assert starts("replay", "--store", str(tmp_path), str(large), "--no-progress")
    assert not starts("replay", str(small), "--store", str(tmp_path))
    assert not starts("replay", str(large), "--engine", "faust")
    assert not starts("replay", str(large), "--help")
    assert not starts("sql", str(large))
    assert not starts("replay", str(tmp_path / "missing.jsonl"))
    assert not starts()
    monkeypatch.setenv("SQM_HELPER_PROCESS", "1")  # a helper running the CLI module again
    assert not starts("replay", str(large))
    # The same size as the direct runner's rule for using helpers.
    assert helper_processes.LARGE_FILE_BYTES == 200 * direct_feed.CHILD_FROM_LINES


@pytest.mark.parametrize("entry", ["console script", "module"])
def test_a_large_replay_through_either_entry_point(tmp_path: Path, entry: str) -> None:
    """The helpers run the program's main module again with its arguments (the console
    script's, or the CLI module): they must not start a server of their own."""
    events = tmp_path / "events.jsonl"
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "INFO", "SQM_LOG_FORMAT": "text"}
    made = subprocess.run([sys.executable, "-m", "sqm.streams.cli", "simulate", str(events),
                           "--contacts", "8000", "--days", "2"], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert made.returncode == 0, made.stderr
    assert events.stat().st_size > helper_processes.LARGE_FILE_BYTES
    script = Path(sys.executable).parent / "sqm"
    command = [str(script)] if entry == "console script" else [
        sys.executable, "-m", "sqm.streams.cli"]
    run = subprocess.run([*command, "replay", str(events), "--store", str(tmp_path / "s"),
                          "--no-progress"], env=env, capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    workers = direct_feed.ALERT_PROCESSES  # one on two cores, two on more
    shown = "1 worker process\n" if workers == 1 else f"{workers} worker processes"
    assert f"alert partitions in {shown}" in run.stderr, run.stderr[-3000:]
    assert run.stdout.startswith("replayed ")
