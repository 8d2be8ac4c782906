"""The direct runner's input: the file's lines in chunks, validated ahead of the stages.

`route_batch` validates and routes a chunk, in the ingest child for large files. While the
stages apply chunk K, the child validates K+1 and K+2; no more, so that at most four chunks are
in memory (docs/replay.md). The first chunk is validated in this process, while the child, just
started, takes the second: the stages wait for the first chunk only.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sqm.streams.config import Settings
from sqm.streams.core.ingest_batch import RoutedBatch
from sqm.streams.ingest_pool import IngestRouter, Routing
from sqm.streams.replay_summary import MAX_LINE_BYTES, numbered_lines, read_lines

CHUNK_LINES = 20_000  # the chunks' size once the pipeline runs
# The first chunk is this small, and the next ones double up to CHUNK_LINES: the stages after
# ingest wait for the first chunk only. Towards the end each chunk takes half of what is left
# (down to this size again): once the last one is applied, only its write and the one before
# are left, on one core.
FIRST_CHUNK_LINES = 5_000
CHILD_FROM_LINES = 50_000  # below this, a child process costs more to start than it saves
ALERT_PROCESSES = 2  # the alert stage's worker processes for large files, by default
AHEAD = 2  # chunks validating while one is applied


@dataclass
class Chunk:
    lines: list[int]  # 1-based line number of each value
    values: list[bytes]
    oversize: list[tuple[int, bytes]] = field(default_factory=list)  # (line number, line)


def helper_counts(settings: Settings, path: Path) -> tuple[int, int]:
    """The helper processes a replay of `path` uses: (ingest, alert stage)."""
    large = path.stat().st_size > 200 * CHILD_FROM_LINES
    alerts = settings.replay_alert_processes
    if alerts is None:
        alerts = ALERT_PROCESSES if large else 0
    return (settings.ingest_processes if large else 0), alerts


class ChunkFeed:
    """The chunks of `path` with their `route_batch` results, in order."""

    def __init__(self, settings: Settings, path: Path) -> None:
        self.settings = settings
        self.lines = sum(1 for _ in read_lines(path))  # non-empty: the progress bar's total
        self._chunks = chunks(path, self.lines)
        self._router = IngestRouter(helper_counts(settings, path)[0])
        self._pending: deque[tuple[Chunk, Routing]] = deque()
        self._started = False

    def start(self) -> None:
        """Start the child (if any) on the second chunk, and validate the first here."""
        if self._started:
            return
        self._started = True
        self._router.start()
        first = next(self._chunks, None)
        if first is None:
            return
        self._top_up(AHEAD)
        self._pending.appendleft((first, self._route(IngestRouter(0), first)))

    async def take(self) -> tuple[Chunk, RoutedBatch, bool] | None:
        """The next chunk, validated, and whether it is the last; None past the end."""
        self.start()
        if not self._pending:
            return None
        chunk, routing = self._pending.popleft()
        routed = await IngestRouter.result(routing)
        self._top_up(AHEAD)
        return chunk, routed, not self._pending

    def _top_up(self, ahead: int) -> None:
        while len(self._pending) < ahead:
            chunk = next(self._chunks, None)
            if chunk is None:
                return
            self._pending.append((chunk, self._route(self._router, chunk)))

    def _route(self, router: IngestRouter, chunk: Chunk) -> Routing:
        s = self.settings
        horizon_ms = int(time.time() * 1000) + s.max_future_s * 1000
        return router.submit(chunk.values, [0] * len(chunk.values), s.partitions, horizon_ms,
                             s.max_future_s, s.max_past_days, encode=False)

    def close(self) -> None:
        """Stop the child (validation under way is dropped)."""
        self._router.close()


def chunks(path: Path, lines: int | None = None) -> Iterator[Chunk]:
    """The file's non-empty lines in chunks, with their line numbers (too long ones apart).
    With `lines` (how many there are), the last chunks shrink: see FIRST_CHUNK_LINES."""
    values: list[bytes] = []
    numbers: list[int] = []
    oversize: list[tuple[int, bytes]] = []
    first = min(FIRST_CHUNK_LINES, CHUNK_LINES)
    size, left = first, lines
    for number, line in numbered_lines(path):
        if len(line) > MAX_LINE_BYTES:
            oversize.append((number, line))
            continue
        values.append(line)
        numbers.append(number)
        if len(values) >= size:
            yield Chunk(numbers, values, oversize)
            size = min(size * 2, CHUNK_LINES)
            if left is not None:
                left -= len(values) + len(oversize)
                size = min(size, max(first, left // 2))
            values, numbers, oversize = [], [], []
    if values or oversize:
        yield Chunk(numbers, values, oversize)
