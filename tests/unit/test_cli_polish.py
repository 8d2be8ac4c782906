"""The `sqm` command line as a new user tries it: --version, help that shows every default and
the choices, one-line errors for mistyped options and store paths, scorecards readable at 80
columns, warnings in plain words above the progress bar, counts in the right number."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import Progress

from sinks.clickhouse import StoreError
from streams.logs import ConsoleHandler, setup_logging
from streams.replay import ReplaySummary
from streams.store import check_store_dir


def test_check_store_dir(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"no store at .*: pass --store"):
        check_store_dir(tmp_path / "new", create=False)
    check_store_dir(tmp_path / "new", create=True)  # replay and migrate make it
    assert (tmp_path / "new").is_dir() and not list((tmp_path / "new").iterdir())
    with pytest.raises(StoreError, match=r"no store at .*: the directory holds no chDB data"):
        check_store_dir(tmp_path / "new", create=False)
    (tmp_path / "new" / "metadata").mkdir()
    check_store_dir(tmp_path / "new", create=False)
    (tmp_path / "f").write_text("")
    with pytest.raises(StoreError, match="is a file, not a directory"):
        check_store_dir(tmp_path / "f", create=True)
    with pytest.raises(StoreError, match=r"cannot create the store .*: Not a directory"):
        check_store_dir(tmp_path / "f" / "s", create=True)


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_a_warning_lands_above_the_progress_bar(root_logging: None) -> None:
    console = Console(file=io.StringIO(), width=100, force_terminal=True, color_system=None)
    setup_logging("WARNING", "json", console=console)
    assert isinstance(logging.getLogger().handlers[0], ConsoleHandler)
    with Progress(console=console, auto_refresh=False) as progress:
        task = progress.add_task("replay", total=2)
        progress.refresh()
        logging.getLogger("x").warning("dead-lettered 1 of 2 events")
        progress.update(task, completed=2)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    before, after = text.split("warning: dead-lettered 1 of 2 events\n")
    assert before.endswith("\r\x1b[2K")  # the bar's line is cleared for the warning
    assert "replay" in after and "100%" in after  # and the bar drawn again below it


def test_summary_lines_count_in_the_right_number() -> None:
    assert ReplaySummary(1, 1, 0, 1, 0, 1, 0.5).line() == (
        "replayed 1 event in 0.5 s: 1 stored (0 distinct, 1 duplicate merged), 0 dead-lettered, "
        "1 contact")
    # What tests and scripts parse, unchanged.
    assert ReplaySummary(26, 22, 20, 2, 4, 6, 2.0).line() == (
        "replayed 26 events in 2.0 s: 22 stored (20 distinct, 2 duplicates merged), "
        "4 dead-lettered, 6 contacts")
    assert "NOT EXACT: 1 correction to windows older" in ReplaySummary(
        1, 1, 1, 0, 0, 1, 0.5, dropped_corrections=1).line()
