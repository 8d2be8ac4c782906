"""The direct runner's input: the file's lines in chunks, validated ahead of the stages.

`route_batch` validates and routes a chunk, in the ingest child for large files. While the
stages apply chunk K, the child validates K+1 to K+3; no more, so that at most six chunks are
in memory (docs/replay.md). Started with `start`, the first chunk is validated in this process,
while the child, just started, takes the second: the stages wait for the first chunk only.
`start_early` does better when the caller has other work first (opening the store, on one
core): a thread starts the child on the first chunks and counts the lines meanwhile.
"""

from __future__ import annotations

import os
import threading
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
# ingest wait for the first chunk only. The last chunks are not made smaller: each chunk costs
# ~5 inserts, ~9 parts, each with a fixed ~4 ms of chDB's CPU, more than a shorter tail saved
# (a 150k replay: 3.71 s against 3.79, faster in 7 of 8 pairs).
FIRST_CHUNK_LINES = 5_000
CHILD_FROM_LINES = 50_000  # below this, a child process costs more to start than it saves
# The alert stage's worker processes for large files, by default: one on two cores, where the
# replay's own process, the ingest child and chDB's threads keep both busy (a second worker
# only added its overhead: 3.66 against 3.80 s for the 150k-event history), two on more.
ALERT_PROCESSES = 1 if (os.cpu_count() or 1) <= 2 else 2
# Chunks validating while one is applied: with two, the stages still waited for the child at
# times (its core is shared with chDB and the alert workers); three gained ~0.1 s of a 4 s
# replay, four nothing more.
AHEAD = 3


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
        self.path = path.absolute()  # read in a thread (start_early): whatever the directory
        self._lines: int | None = None
        self._chunks: Iterator[Chunk] | None = None
        self._router = IngestRouter(helper_counts(settings, path)[0])
        self._pending: deque[tuple[Chunk, Routing]] = deque()
        self._started = False
        self._early: threading.Thread | None = None
        self._early_error: BaseException | None = None

    @property
    def lines(self) -> int:
        """The file's non-empty lines (the progress bar's total)."""
        self._join_early()
        if self._lines is None:
            self._lines = sum(1 for _ in read_lines(self.path))
        return self._lines

    def start(self) -> None:
        """Start the child (if any) on the second chunk, and validate the first here (after
        `start_early`: wait for it)."""
        self._join_early()
        if self._started:
            return
        self._started = True
        self._router.start()
        first = next(self._next_chunks(), None)
        if first is None:
            return
        self._top_up(AHEAD)
        self._pending.appendleft((first, self._route(IngestRouter(0), first)))

    def start_early(self) -> None:
        """Count the lines, start the child and hand it the first chunks, in a thread: the
        caller goes on meanwhile; `start`, `take` and `lines` wait for it. Without a child,
        the chunks are validated by `start` as usual."""
        if self._started or self._early is not None or not self._router.processes:
            return
        self._started = True
        self._early = threading.Thread(target=self._start_in_child, name="sqm-feed-start",
                                       daemon=True)
        self._early.start()

    def _start_in_child(self) -> None:
        try:
            self._router.start()
            # The first chunks to the child before counting the lines (~0.1 s, for the progress
            # bar), then one more than later: the caller's start-up runs meanwhile, and the
            # third chunk is the first the stages wait for.
            self._chunks = chunks(self.path)
            self._top_up(AHEAD)
            self._lines = sum(1 for _ in read_lines(self.path))
            self._top_up(AHEAD + 1)
        except BaseException as exc:  # raised in the caller's thread, by _join_early
            self._early_error = exc

    def _join_early(self) -> None:
        early, self._early = self._early, None
        if early is not None:
            early.join()
        error, self._early_error = self._early_error, None
        if error is not None:
            raise error

    def _next_chunks(self) -> Iterator[Chunk]:
        if self._chunks is None:
            self._chunks = chunks(self.path)
        return self._chunks

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
            chunk = next(self._next_chunks(), None)
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
        try:
            self._join_early()
        finally:
            self._router.close()


def chunks(path: Path) -> Iterator[Chunk]:
    """The file's non-empty lines in chunks, with their line numbers (too long ones apart)."""
    values: list[bytes] = []
    numbers: list[int] = []
    oversize: list[tuple[int, bytes]] = []
    size = min(FIRST_CHUNK_LINES, CHUNK_LINES)
    for number, line in numbered_lines(path):
        if len(line) > MAX_LINE_BYTES:
            oversize.append((number, line))
            continue
        values.append(line)
        numbers.append(number)
        if len(values) >= size:
            yield Chunk(numbers, values, oversize)
            size = min(size * 2, CHUNK_LINES)
            values, numbers, oversize = [], [], []
    if values or oversize:
        yield Chunk(numbers, values, oversize)
