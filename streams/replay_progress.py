"""Where a direct-runner replay has got to, recorded in the store (`sqm.replay_runs`), for
`sqm replay --resume` (docs/replay.md).

After each chunk's rows are written (all tables), one row says "lines up to N are durably
written"; the writes are serialized, so every line at or before N is stored. A resumed run
reads the file again from the start to rebuild the in-memory state (the stages are
deterministic given the file), writes nothing for chunks up to N and everything after, as the
interrupted run would have. It starts a new state generation (part of every row version), so
its rows replace anything the interrupted run wrote past N; it keeps the recorded clock.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from clickhouse_connect.driver.client import Client

from sqm.sinks.writer import ClickHouseWriter

_SAMPLE = 1 << 20


@dataclass(frozen=True, slots=True)
class ReplayRun:
    file_key: str
    file: str
    lines_done: int
    finished: bool
    generation: int
    started_at: datetime


def file_key(path: Path) -> str:
    """The file's identity: its size and a hash of its first and last MiB (a file appended to
    or rewritten since is another file; hashing all of a large file costs seconds)."""
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    with path.open("rb") as f:
        h.update(f.read(_SAMPLE))
        if size > _SAMPLE:
            f.seek(max(_SAMPLE, size - _SAMPLE))
            h.update(f.read(_SAMPLE))
    return f"{size}:{h.hexdigest()}"


def load_run(client: Client, key: str) -> ReplayRun | None:
    rows = client.query(
        "SELECT file_key, file, lines_done, finished, generation, started_at "
        "FROM sqm.replay_runs FINAL WHERE file_key = {key:String}",
        parameters={"key": key}).result_rows
    if not rows:
        return None
    k, file, done, finished, generation, started = rows[0]
    return ReplayRun(k, file, int(done), bool(finished), int(generation),
                     started.replace(tzinfo=UTC) if started.tzinfo is None else started)


def save_run(writer: ClickHouseWriter, run: ReplayRun) -> None:
    writer.write({"replay_runs": [{
        "file_key": run.file_key, "file": run.file, "lines_done": run.lines_done,
        "finished": run.finished, "generation": run.generation, "started_at": run.started_at,
        "version": run.lines_done * 2 + int(run.finished), "updated_at": datetime.now(UTC),
    }]})
