"""Helper processes (ingest validation, the direct runner's alert workers) are forked from one
fork server that imported their code once, not each spawned to import it again; and none of
them, the server included, outlives a worker killed with SIGKILL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
