"""`sqm replay --resume`: a direct-runner replay killed with SIGKILL at random points, resumed
each time (and the resumed runs killed again), ends with every table equal to an uninterrupted
replay's (tests/store_tables.py), alert ids and versions included.

The chunk is made smaller here (2,500 lines) so a ~40k-event file has chunk boundaries to kill
between; the subprocess reports each progress record it saves, and the kill lands a random
0-0.3 s after the n-th one: in the middle of processing or of writing the next chunk, or, the
replay being fast, after its last record (then the store is complete: no more kills).
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_outage import ENV, ROOT, sqm
from tests.store_tables import differences, store_tables

pytestmark = pytest.mark.integration

PROGRAM = """
import sys
import sqm.streams.direct as direct
import sqm.streams.direct_feed as feed

feed.CHUNK_LINES = 2_500
real = direct.save_run

def save_run(writer, run):
    real(writer, run)
    print(f"saved {run.lines_done}{' finished' if run.finished else ''}", file=sys.stderr,
          flush=True)

direct.save_run = save_run
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[1:]]
main()
"""


def killed_after(args: list[str], saves: int, delay_s: float) -> tuple[int, str]:
    """Run the CLI; SIGKILL it `delay_s` after its `saves`-th progress record. (exit code,
    stderr)."""
    proc = subprocess.Popen([sys.executable, "-c", PROGRAM, *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    seen: list[str] = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("saved") and sum(x.startswith("saved") for x in seen) >= saves:
                time.sleep(delay_s)
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):  # the ingest children, if any are left
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, "".join(seen)


def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_store(
        tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    run = sqm("simulate", str(events), "--contacts", "6000", "--days", "3", "--messy")
    assert run.returncode == 0, run.stderr
    # The same chunks as the killed runs (versions carry per-chunk message offsets).
    code, err = killed_after(["replay", str(events), "--store", str(tmp_path / "clean"),
                              "--no-progress"], 10**6, 0)
    assert code == 0, err[-2000:]
    store = tmp_path / "store"
    rng = random.Random(20261204)
    args = ["replay", str(events), "--store", str(store), "--no-progress"]
    kills = 0
    finished = False
    # A fresh run's first record says line 0; a resumed run's first is its first new chunk.
    for saves in (2, 1, 1, 1, 1):
        code, err = killed_after([*args, *(["--resume"] if kills else [])], saves,
                                 rng.uniform(0, 0.3))
        if code != -signal.SIGKILL or re.search(r"^saved \d+ finished$", err, re.M):
            # It finished before the kill, or the kill hit it after its last record.
            assert code in (0, -signal.SIGKILL), err[-2000:]
            finished = True
            break
        kills += 1
        # Without --resume: one line saying what to do.
        again = sqm(*args)
        assert again.returncode == 1
        assert re.fullmatch(
            rf"error: the store {store} holds an unfinished replay of events\.jsonl \(lines "
            rf"1-[\d,]+ written\); continue it with: sqm replay --resume {events} --store "
            rf"{store}, or start over with --reset\n", again.stderr), again.stderr
    assert kills >= 4, kills
    if not finished:
        code, err = killed_after([*args, "--resume"], 10**6, 0)
        assert code == 0, err[-2000:]
    expected = store_tables(tmp_path / "clean")
    assert expected["events"] and expected["alerts"] and expected["sla_1m"]
    assert differences(store_tables(store), expected) == {}
    done = sqm(*args, "--resume")
    assert done.stderr == f"error: nothing to resume: the store {store} holds a finished " \
                          "replay of events.jsonl\n"
