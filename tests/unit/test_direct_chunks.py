"""How the direct runner cuts a file into chunks: every non-empty line once, in order, with its
line number; the first chunks grow from FIRST_CHUNK_LINES to CHUNK_LINES, and given the line
count, the last ones take half of what is left (not below FIRST_CHUNK_LINES)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqm.streams import direct_feed
from sqm.streams.replay_summary import read_lines


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(direct_feed, "FIRST_CHUNK_LINES", 5)
    monkeypatch.setattr(direct_feed, "CHUNK_LINES", 20)


def write(tmp_path: Path, lines: int) -> Path:
    path = tmp_path / "h.jsonl"
    body = b"".join(b"{}\n" if i % 10 else b"\n" for i in range(1, lines + 1))  # blanks too
    path.write_bytes(body)
    return path


@pytest.mark.usefixtures("small_chunks")
def test_the_last_chunks_shrink_when_the_count_is_known(tmp_path: Path) -> None:
    path = write(tmp_path, 150)  # 135 non-empty lines
    total = sum(1 for _ in read_lines(path))
    assert total == 135
    sizes = [len(c.values) for c in direct_feed.chunks(path, total)]
    # 5, 10, 20 ... while at least 40 are left; then half of what is left: 20 → 10,
    # 10 → 5, and 5 (the floor).
    assert sizes == [5, 10, 20, 20, 20, 20, 20, 10, 5, 5]
    assert [len(c.values) for c in direct_feed.chunks(path)] == [5, 10, 20, 20, 20, 20, 20, 20]
    # The count told once known (the feed counts while the first chunks are validated).
    counted: list[int | None] = [None]
    lazy = direct_feed.chunks(path, lambda: counted[0])
    first_two = [len(next(lazy).values), len(next(lazy).values)]
    counted[0] = total
    assert first_two + [len(c.values) for c in lazy] == sizes


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("lines", [1, 4, 5, 6, 39, 150])
def test_every_line_once_in_order(tmp_path: Path, lines: int) -> None:
    path = write(tmp_path, lines)
    expected = [i for i in range(1, lines + 1) if i % 10]
    for known in (None, len(expected)):
        chunks = list(direct_feed.chunks(path, known))
        assert [n for c in chunks for n in c.lines] == expected
        assert all(c.values for c in chunks)
