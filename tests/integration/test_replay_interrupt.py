"""Ctrl-C on `sqm replay --engine faust`: exit 130 and one line saying the store is partial and
what to do, as the direct runner does (before: exit 0 and no word)."""

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
# Says when the file starts being produced: the worker is up and the replay under way.
PROGRAM = """
import sys
import streams.engine.faust.replay as replay

real = replay.produce_file

async def produce_file(*args, **kwargs):
    print("producing", file=sys.stderr, flush=True)
    return await real(*args, **kwargs)

replay.produce_file = produce_file
from streams.cli import main
sys.argv = ["sqm", *sys.argv[1:]]
main()
"""


def test_ctrl_c_on_a_faust_replay_exits_130_and_says_the_store_is_partial(
        tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "WARNING", "SQM_LOG_FORMAT": "text", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "streams.cli", "simulate", str(events),
                          "--contacts", "20000"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, "replay", str(events), "--store", str(store),
         "--no-progress", "--engine", "faust"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line == "producing\n":
                break
        else:
            raise AssertionError("the replay ended before producing")
        time.sleep(3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "replayed" not in out
    lines = [x for x in err.splitlines() if "interrupted" in x]
    assert lines == [f"error: interrupted: the store {store} holds part of the file; replay it "
                     "again with --reset (--resume continues only a replay of the direct "
                     "runner)"], err[-2000:]
