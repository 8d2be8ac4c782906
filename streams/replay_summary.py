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
        from sqm.streams.words import plural

        text = (
            f"replayed {plural(self.read, 'event')} in {self.seconds:.1f} s: {self.stored:,} "
            f"stored ({self.distinct:,} distinct, {plural(self.duplicates, 'duplicate')} merged), "
            f"{self.dead_lettered:,} dead-lettered, {plural(self.contacts, 'contact')}"
        )
        if self.dropped_corrections:
            text += (f"\nNOT EXACT: {plural(self.dropped_corrections, 'correction')} to windows "
                     "older than the state TTL could not be applied, see sqm.dropped_corrections")
        return text


BOM = b"\xef\xbb\xbf"
# The longest line either engine takes as an event: the Faust path's producer refuses a record
# over 4 MiB (its max_request_size, key and framing included), so both engines dead-letter a
# longer line (its first 64 KiB kept) instead of one storing it and the other aborting.
MAX_LINE_BYTES = 4_000_000


def oversize_reason(size: int) -> str:
    return f"line of {size:,} bytes is over the limit of {MAX_LINE_BYTES:,} bytes"


def read_lines(path: Path) -> Iterator[bytes]:
    """The file's non-empty lines; a UTF-8 byte-order mark at its start is not part of the
    first event (editors on Windows write one)."""
    for _, line in numbered_lines(path):
        yield line


def numbered_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line) of every non-empty line, the byte-order mark skipped."""
    with path.open("rb") as f:
        for number, line in enumerate(f, start=1):
            if number == 1 and line.startswith(BOM):
                line = line[len(BOM):]
            line = line.strip()
            if line:
                yield number, line
