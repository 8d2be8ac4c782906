"""How long each command takes to give up, with one line, on a Kafka or ClickHouse it cannot
reach at start (wall time of the whole `sqm` process, including Python's start and imports).

    python benchmarks/start_errors.py [--repeat 1]

Kafka at 127.0.0.1:1 and ClickHouse at https://127.0.0.1:1/ refuse connections at once;
kafka-python still retries for its bootstrap timeout (10 s, set in ensure_topics; 5 s for
alerts ack). A host that drops packets instead is not measured here.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVENTS = str(ROOT / "tests" / "data" / "messy.jsonl")
NO_KAFKA = {"SQM_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
NO_CLICKHOUSE = {"SQM_CLICKHOUSE_URL": "https://127.0.0.1:1/"}
CASES = [
    (["worker"], NO_KAFKA), (["replay", EVENTS, "--engine", "faust"], NO_KAFKA),
    (["alerts", "ack", "a1"], NO_KAFKA), (["worker"], NO_CLICKHOUSE),
    (["replay", EVENTS, "--engine", "faust"], NO_CLICKHOUSE), (["migrate"], NO_CLICKHOUSE),
    (["sql", "SELECT 1"], NO_CLICKHOUSE),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    for argv, env in CASES:
        times, line = [], ""
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                full = {"PATH": os.environ.get("PATH", ""), "TZ": "UTC", "PYTHONPATH": str(ROOT),
                        "SQM_CLICKHOUSE_URL": f"chdb://{tmp}/store", **env}
                started = time.monotonic()
                run = subprocess.run([sys.executable, "-m", "sqm.streams.cli", *argv], cwd=tmp,
                                     env=full, capture_output=True, text=True, timeout=300)
                times.append(time.monotonic() - started)
                line = run.stderr.strip()
        what = "Kafka" if env is NO_KAFKA else "ClickHouse"
        name = " ".join(a if a != EVENTS else "EVENTS" for a in argv)
        print(f"{name:<32} no {what:<10} best {min(times):5.1f} s  exit {run.returncode}  "
              f"{len(line.splitlines())} line(s): {line[:90]}")


if __name__ == "__main__":
    main()
