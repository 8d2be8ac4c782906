"""What a resumed replay pays to restore evicted state exactly (docs/replay.md): a simulated
history longer than the state TTL, replayed once uninterrupted, then killed right after the
rows of the chunk holding line `--kill-at` (a fraction of the file) are written, before their
record, and resumed. Printed: CPU seconds (user + system, the process and its children) of the
uninterrupted run and of the resume, how many contacts and windows the re-read kept as it
evicted them, and every table compared with the uninterrupted run's.

It runs the code of the checkout it sits in (benchmarks/checkout.py); a copy of it in another
checkout gives that checkout's like-for-like figure.

Usage: python benchmarks/resume_evicted.py [--contacts 30000] [--days 30] [--kill-at 0.8]
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import checkout  # noqa: E402

from tests.store_tables import differences, store_tables  # noqa: E402

PROGRAM = """
import os, signal, sys
import sqm.streams.direct as direct

kill_at = int(sys.argv[1])
real = direct.save_run

def save_run(writer, run):
    if 0 < kill_at <= run.lines_done and not run.finished:  # rows written, record not
        os.kill(os.getpid(), signal.SIGKILL)
    real(writer, run)

direct.save_run = save_run
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[2:]]
main()
"""
ENV = checkout.env(ROOT, TZ="UTC", SQM_LOG_LEVEL="INFO", SQM_LOG_FORMAT="text")


def timed(args: list[str]) -> tuple[int, str, float]:
    """(exit code, stderr, CPU seconds of the run and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.returncode, proc.stderr, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=30_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--kill-at", type=float, default=0.8)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sqm-resume-bench-") as tmp:
        work = Path(tmp)
        events = work / "events.jsonl"
        code, err, _ = timed(["-m", "sqm.streams.cli", "simulate", str(events), "--contacts",
                              str(opts.contacts), "--days", str(opts.days), "--messy"])
        assert code == 0, err
        lines = sum(1 for _ in events.open("rb"))
        replay = ["replay", str(events), "--no-progress"]
        code, err, clean_cpu = timed(["-c", PROGRAM, "0", *replay, "--store",
                                      str(work / "clean")])
        assert code == 0, err[-2000:]
        store = str(work / "store")
        kill_at = int(lines * opts.kill_at)
        code, err, killed_cpu = timed(["-c", PROGRAM, str(kill_at), *replay, "--store", store])
        assert code == -9, (code, err[-2000:])
        code, err, resume_cpu = timed(["-c", PROGRAM, "0", *replay, "--store", store,
                                       "--resume"])
        assert code == 0, err[-2000:]
        kept = re.search(r"(\d+) contacts and (\d+) windows evicted while re-reading", err)
        diff = differences(store_tables(Path(store)), store_tables(work / "clean"))
        print(f"{lines:,} lines ({opts.contacts:,} contacts over {opts.days} days), killed "
              f"after the chunk holding line {kill_at:,} was written")
        print(f"CPU: uninterrupted {clean_cpu:.1f} s; killed run {killed_cpu:.1f} s; resume "
              f"{resume_cpu:.1f} s")
        print("kept while re-reading: " + (f"{kept[1]} contacts, {kept[2]} windows" if kept
                                           else "nothing (this checkout keeps nothing)"))
        print("tables: " + ("equal to the uninterrupted run's" if not diff else f"DIFFER {diff}"))


if __name__ == "__main__":
    main()
