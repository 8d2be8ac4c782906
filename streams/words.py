"""Counts in the sentences `sqm` prints: `1 contact`, `2 contacts`."""

from __future__ import annotations


def plural(n: int, noun: str, many: str | None = None) -> str:
    """`n` with thousands separators and `noun` in the right number (`many` when not `+s`)."""
    return f"{n:,} {noun if n == 1 else many or noun + 's'}"
