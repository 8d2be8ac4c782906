"""The direct runner's input (`ChunkFeed`): every chunk once, in order, validated as
`route_batch` validates it, the last one marked, and never more than two chunks validating ahead
of the one taken; with the ingest child (a real process from the fork server) and without."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from sqm.streams import direct_feed
from sqm.streams.config import Settings
from sqm.streams.core.ingest_batch import RoutedBatch, route_batch
from sqm.streams.direct_feed import ChunkFeed


def history(tmp_path: Path, n: int) -> Path:
    lines = []
    for i in range(n):
        event = {"event_id": f"e{i}", "type": "contact.created",
                 "occurred_at": f"2026-03-02T01:{i // 60 % 60:02d}:{i % 60:02d}Z",
                 "tenant_id": "A", "contact_id": f"c{i}", "customer_id": f"u{i % 7}",
                 "channel": "chat", "queue": "q1"}
        lines.append(orjson.dumps(event) if i % 9 else b"{not json")  # some rejected
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def take_all(feed: ChunkFeed) -> list[tuple[direct_feed.Chunk, RoutedBatch, bool, int]]:
    async def run() -> list[tuple[direct_feed.Chunk, RoutedBatch, bool, int]]:
        out = []
        while (taken := await feed.take()) is not None:
            chunk, routed, last = taken
            out.append((chunk, routed, last, len(feed._pending)))
        return out

    try:
        return asyncio.run(run())
    finally:
        feed.close()


@pytest.mark.parametrize(("child", "early"), [(False, False), (True, False), (True, True)])
def test_chunks_in_order_validated_the_last_marked(tmp_path: Path, child: bool, early: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_feed, "FIRST_CHUNK_LINES", 5)
    monkeypatch.setattr(direct_feed, "CHUNK_LINES", 20)
    if child:  # this small file counts as large: the ingest child validates
        monkeypatch.setattr(direct_feed, "CHILD_FROM_LINES", 0)
    history(tmp_path, 133)
    # A relative path, and the working directory moved as soon as the feed's thread starts
    # (chDB's import moves it for a moment): the thread still reads this file.
    monkeypatch.chdir(tmp_path)
    settings = Settings(ingest_processes=1)
    feed = ChunkFeed(settings, Path("h.jsonl"))
    if early:
        feed.start_early()
        monkeypatch.chdir("/")
    assert feed.lines == 133
    assert (feed._router.processes == 1) is child
    taken = take_all(feed)
    assert [n for c, *_ in taken for n in c.lines] == list(range(1, 134))
    assert [last for _, _, last, _ in taken] == [False] * (len(taken) - 1) + [True]
    assert max(pending for *_, pending in taken) <= direct_feed.AHEAD
    assert sum(len(r.rejections) for _, r, _, _ in taken) == len(range(0, 133, 9))
    horizon_ms = int(time.time() * 1000) + settings.max_future_s * 1000
    for chunk, routed, _, _ in taken:  # what route_batch gives for the chunk, here
        expected = route_batch(chunk.values, [0] * len(chunk.values), settings.partitions,
                               horizon_ms, settings.max_future_s, settings.max_past_days,
                               encode=False)
        assert routed.wires == expected.wires
        assert [(i, r.reason) for i, r in routed.rejections] == [
            (i, r.reason) for i, r in expected.rejections]


def test_an_empty_file_has_no_chunks(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"\n\n")
    feed = ChunkFeed(Settings(), path)
    assert feed.lines == 0
    assert take_all(feed) == []


def test_an_early_start_that_fails_raises_where_the_chunks_are_taken(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_feed, "CHILD_FROM_LINES", 0)
    path = history(tmp_path, 40)
    feed = ChunkFeed(Settings(ingest_processes=1), path)
    path.unlink()  # gone before the thread reads it
    feed.start_early()
    with pytest.raises(FileNotFoundError):
        take_all(feed)
    feed.close()  # closing again is harmless
