"""Ctrl-C on `sqm replay`: exit 130 and one line saying the store is partial and what to do.
On `--engine faust` (before: exit 0 and no word): replay again with --reset. On the direct
runner: the `--resume` command, which then completes the store."""

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
# Says when the replay is under way: the Faust worker producing the file, or the direct
# runner's first progress record.
PROGRAM = """
import sys
import sqm.streams.engine.faust.replay as replay

real = replay.produce_file

async def produce_file(*args, **kwargs):
    print("under way", file=sys.stderr, flush=True)
    return await real(*args, **kwargs)

replay.produce_file = produce_file

import sqm.streams.direct as direct
real_save = direct.save_run

def save_run(writer, run):
    real_save(writer, run)
    print("under way", file=sys.stderr, flush=True)

direct.save_run = save_run
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[1:]]
main()
"""


@pytest.mark.parametrize("engine", ["faust", "direct"])
def test_ctrl_c_on_a_replay_exits_130_and_says_the_store_is_partial(
        engine: str, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    env = {"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "SQM_LOG_LEVEL": "WARNING", "SQM_LOG_FORMAT": "text", "PYTHONPATH": str(ROOT)}
    run = subprocess.run([sys.executable, "-m", "sqm.streams.cli", "simulate", str(events),
                          "--contacts", "20000"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [sys.executable, "-c", PROGRAM, "replay", str(events), "--store", str(store),
         "--no-progress", "--engine", engine],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if line == "under way\n":
                break
        else:
            raise AssertionError("the replay ended first")
        time.sleep(3 if engine == "faust" else 0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert "replayed" not in out
    lines = [x for x in err.splitlines() if "interrupted" in x]
    if engine == "faust":
        assert lines == [f"error: interrupted: the store {store} holds part of the file; replay "
                         "it again with --reset (--resume continues only a replay of the direct "
                         "runner)"], err[-2000:]
        return
    assert lines == [f"error: interrupted: the store {store} holds part of the file; continue "
                     f"it with: sqm replay --resume {events} --store {store}"], err[-2000:]
    resumed = subprocess.run([sys.executable, "-m", "sqm.streams.cli", "replay", str(events),
                              "--store", str(store), "--no-progress", "--resume"], cwd=ROOT,
                             env=env, capture_output=True, text=True, timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert resumed.stdout.startswith(f"replayed {sum(1 for _ in events.open()):,} events")
