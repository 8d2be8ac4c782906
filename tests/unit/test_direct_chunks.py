"""How the direct runner cuts a file into chunks: every non-empty line once, in order, with its
line number; the first chunks grow from FIRST_CHUNK_LINES to CHUNK_LINES, and stay there to the
end (the last one holds what is left)."""

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
def test_chunks_grow_to_the_full_size_and_keep_it(tmp_path: Path) -> None:
    path = write(tmp_path, 150)  # 135 non-empty lines
    assert sum(1 for _ in read_lines(path)) == 135
    # 5, 10, then 20 to the end: 5 + 10 + 6 * 20 = 135.
    assert [len(c.values) for c in direct_feed.chunks(path)] == [5, 10, 20, 20, 20, 20, 20, 20]
    path = write(tmp_path, 160)  # 144: the last chunk holds the 9 left
    assert [len(c.values) for c in direct_feed.chunks(path)] == [5, 10, 20, 20, 20, 20, 20, 20, 9]


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("lines", [1, 4, 5, 6, 39, 150])
def test_every_line_once_in_order(tmp_path: Path, lines: int) -> None:
    path = write(tmp_path, lines)
    expected = [i for i in range(1, lines + 1) if i % 10]
    chunks = list(direct_feed.chunks(path))
    assert [n for c in chunks for n in c.lines] == expected
    assert all(c.values for c in chunks)
