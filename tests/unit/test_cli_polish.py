"""The `sqm` command line as a new user tries it: --version, help that shows every default and
the choices, one-line errors for mistyped options and store paths, scorecards readable at 80
columns, warnings in plain words above the progress bar, counts in the right number."""

from __future__ import annotations

from streams.replay import ReplaySummary


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
