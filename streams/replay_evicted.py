"""The archive of a resumed replay while it re-reads the done part (docs/replay.md).

A resumed run reads the file again from line 1 and evicts the same state at the same points as
the run it continues (the stages are deterministic given the file). What the store holds now
is not what that run read back: it already holds the rows of every chunk up to the record and
maybe of up to three chunks after it (`PAST_RECORD`, streams/direct.py), so an evicted
contact would come back with its later events (merged as duplicates, their window changes
lost) and an evicted window with its later counts. Here the re-read keeps, as it evicts them,
what the run it continues had stored at that moment: each contact's event ids and repeat flag,
each window's counts. A contact comes back with exactly those stored events (`sqm.events` rows
are written once per event and never change), a window with those counts. Kept in a temporary
SQLite file, so memory stays bounded however much is evicted; dropped once the third chunk
past the record is applied, after which the store is read again (what it holds for anything
evicted from then on was written by then).

A replay starts on an empty store (`sqm replay` refuses one holding events unless `--reset`),
so whatever is not kept here was never stored: a contact is new, a window was never written.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path

import orjson

from sqm.sinks.archive import ClickHouseArchive
from sqm.streams.core.archive import ArchivedContact, ContactKey
from sqm.streams.core.rollup import WindowKey


class EvictedArchive:
    """`Archive` (core/archive.py) from what this run evicted; `Evictions` to be told of it."""

    def __init__(self, store: ClickHouseArchive) -> None:
        self.store = store  # for the stored events themselves
        self._dir = tempfile.TemporaryDirectory(prefix="sqm-resume-")
        # Read from the direct runner's read-back thread and written by the stages in its
        # own, never at the same time: the runner waits for the read-back before applying.
        self._db = sqlite3.connect(Path(self._dir.name) / "evicted.sqlite",
                                   check_same_thread=False)
        self._db.executescript(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"
            "CREATE TABLE contacts (tenant TEXT, contact TEXT, ids BLOB, repeat INTEGER,"
            " PRIMARY KEY (tenant, contact)) WITHOUT ROWID;"
            "CREATE TABLE windows (shard INTEGER, key BLOB, counts BLOB, stamp INTEGER,"
            " PRIMARY KEY (shard, key)) WITHOUT ROWID;")
        self.kept_contacts = 0
        self.kept_windows = 0

    # -- Evictions ---------------------------------------------------------------------------
    def evicted_contact(self, key: ContactKey, event_ids: Collection[str],
                        is_repeat: bool) -> None:
        self._db.execute("INSERT OR REPLACE INTO contacts VALUES (?, ?, ?, ?)",
                         (key[0], key[1], orjson.dumps(sorted(event_ids)), int(is_repeat)))
        self.kept_contacts += 1

    def evicted_window(self, shard: int, key: WindowKey, counts: list[int], stamp: int) -> None:
        self._db.execute("INSERT OR REPLACE INTO windows VALUES (?, ?, ?, ?)",
                         (shard, orjson.dumps(key), orjson.dumps(counts), stamp))
        self.kept_windows += 1

    # -- Archive -----------------------------------------------------------------------------
    def contacts(self, keys: Sequence[ContactKey]) -> dict[ContactKey, ArchivedContact]:
        kept: dict[ContactKey, tuple[set[str], bool]] = {}
        for key in keys:
            row = self._db.execute("SELECT ids, repeat FROM contacts WHERE tenant = ? AND "
                                   "contact = ?", key).fetchone()
            if row is not None:
                kept[key] = (set(orjson.loads(row[0])), bool(row[1]))
        if not kept:
            return {}
        stored = self.store.events(list(kept))
        return {key: ArchivedContact([e for e in stored[key] if e.event_id in ids], repeat)
                for key, (ids, repeat) in kept.items()}

    def windows(self, shard: int, keys: Sequence[WindowKey]) -> dict[
            WindowKey, tuple[list[int], int]]:
        out: dict[WindowKey, tuple[list[int], int]] = {}
        for key in keys:
            row = self._db.execute("SELECT counts, stamp FROM windows WHERE shard = ? AND "
                                   "key = ?", (shard, orjson.dumps(key))).fetchone()
            if row is not None:
                # A version without this state's generation reads as "no stamp": either way
                # below the offset of the message asking (the window was evicted before it).
                out[key] = (orjson.loads(row[0]), max(row[1], 0))
        return out

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()
