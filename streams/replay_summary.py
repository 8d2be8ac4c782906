"""What `sqm replay` reports, whichever engine ran it, and how it reads the file."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class ReplayError(RuntimeError):
    pass


@dataclass(frozen=True)
class ReplaySummary:
    read: int
    stored: int
    distinct: int
    duplicates: int
    dead_lettered: int
    contacts: int
    seconds: float
    dropped_corrections: int = 0

    def line(self) -> str:
        from streams.words import plural

        text = (
            f"replayed {plural(self.read, 'event')} in {self.seconds:.1f} s: {self.stored:,} "
            f"stored ({self.distinct:,} distinct, {plural(self.duplicates, 'duplicate')} merged), "
            f"{self.dead_lettered:,} dead-lettered, {plural(self.contacts, 'contact')}"
        )
        if self.dropped_corrections:
            text += (f"\nNOT EXACT: {plural(self.dropped_corrections, 'correction')} to windows "
                     "older than the state TTL could not be applied, see sqm.dropped_corrections")
        return text


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        for line in f:
            line = line.strip()
            if line:
                yield line
