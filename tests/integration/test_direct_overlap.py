"""The direct runner writes chunk K-1's rows while it applies chunk K: by the time the stages
start on a chunk, the previous chunk's insert has its rows (in the writer's thread).

Checked by order, not by time: the subprocess logs each chunk's apply as it starts, and each
chunk's rows as they are handed to the insert's thread. Before this held, the insert started
only once the apply was done (`settle` hands the rows over a few turns of the event loop
later), so the two took turns.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_outage import ENV, ROOT, sqm

pytestmark = pytest.mark.integration

PROGRAM = """
import sys
import sqm.sinks.writer as writer
import sqm.streams.direct as direct
import sqm.streams.direct_feed as feed

feed.FIRST_CHUNK_LINES = 500
feed.CHUNK_LINES = 2_000

real_apply = direct.DirectReplay._apply
real_write = writer.ClickHouseWriter.write_async

def apply(self, batch, read_back):
    print(f"apply {batch.last_line}", file=sys.stderr, flush=True)
    return real_apply(self, batch, read_back)

async def write(self, batch):  # on the event loop: hands the rows to the insert's thread
    if "events" in batch:  # a chunk's rows (not its alerts, not the progress record)
        print("rows", file=sys.stderr, flush=True)
    await real_write(self, batch)

direct.DirectReplay._apply = apply
writer.ClickHouseWriter.write_async = write
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[1:]]
main()
"""


def test_each_chunk_is_applied_while_the_previous_one_is_written(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    made = sqm("simulate", str(events), "--contacts", "2000", "--days", "2")
    assert made.returncode == 0, made.stderr
    run = subprocess.run([sys.executable, "-c", PROGRAM, "replay", str(events), "--store",
                          str(tmp_path / "store"), "--no-progress"], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    log = re.findall(r"^(apply \d+|rows)$", run.stderr, re.M)
    applies = [i for i, line in enumerate(log) if line.startswith("apply")]
    assert len(applies) >= 6, log
    for k, at in enumerate(applies):
        # Chunk k's rows exist once it is applied; chunk k-1's insert started before that.
        assert log[:at].count("rows") == k, log
    assert log.count("rows") == len(applies)
