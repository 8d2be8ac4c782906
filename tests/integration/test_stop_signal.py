"""`sqm replay --engine faust` (a Faust worker) stops on SIGTERM even while its event loop is
stuck in synchronous work.

The alert stage once spent minutes in one batch (an event dated 1970: streams/core/alerting
now bounds that work), and SIGTERM, which Faust handles through the event loop, waited for it.
Here the alert stage is made to spin for good at its first batch (patched in the subprocess,
before the CLI runs), so only the stop guard (streams/engine/faust/stop_guard.py) can end the
process: it must exit within the grace period (`SQM_STOP_GRACE_S`, 3 s here) plus the broker's
stop, with 128 + SIGTERM, and take its embedded broker with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """
import sys
from sqm.streams.core.alerting import AlertMonitor

def stuck(self, *args, **kwargs):
    print("alert stage busy", file=sys.stderr, flush=True)
    while True:  # synchronous work that never gives the event loop control
        pass

AlertMonitor.evaluate = stuck
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[1:]]
main()
"""


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True,
                         text=True, check=False).stdout
    return [int(p) for p in out.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_sigterm_stops_a_replay_whose_event_loop_is_busy(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "sqm.streams.cli", "simulate", str(events), "--contacts", "200"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    env = {"TZ": "UTC", "PATH": "/usr/bin:/bin", "SQM_LOG_LEVEL": "WARNING",
           "SQM_LOG_FORMAT": "text", "SQM_STOP_GRACE_S": "3"}
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, "replay", str(events), "--store",
         str(tmp_path / "store"), "--no-progress", "--engine", "faust"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    helpers: list[int] = []
    try:
        assert proc.stderr is not None
        lines: list[str] = []
        for line in proc.stderr:  # until the alert stage is stuck
            lines.append(line)
            if line == "alert stage busy\n":
                break
        else:
            raise AssertionError(f"the replay ended first: {lines[-5:]}")
        helpers = children(proc.pid)  # the embedded broker, the ingest child
        assert helpers
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)  # without the guard: never
        took = time.monotonic() - sent
        rest = proc.stderr.read()
    finally:
        if proc.poll() is None:  # failed: leave no broker behind (it has its own session)
            proc.kill()
            proc.wait()
            for pid in helpers:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
    assert proc.returncode == 128 + signal.SIGTERM, rest[-2000:]
    assert "stopping at once: not stopped 3 s after SIGTERM" in rest
    assert 3 <= took < 20, took  # the grace, then the broker's stop (at most 10 s)
    deadline = time.monotonic() + 10  # the ingest child notices its parent is gone in ~1 s
    while any(alive(p) for p in helpers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in helpers if alive(p)]
