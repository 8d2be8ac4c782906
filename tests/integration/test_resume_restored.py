"""`sqm replay --resume` stays exact when it restores evicted state (state TTL) while the store
already holds the killed run's rows from past its progress record.

The history is made for it: long-lived contacts surveyed ten days after they were resolved
(evicted by then, so read back from the store), and in the survey's minute, with the same
dimensions, a new contact that makes the resumed run write that one-minute window again. The
test program SIGKILLs the replay right after a chunk's rows are written, before its record:
- "past the record": the survey is in that chunk, so the resumed run reads the contact back
  from a store already holding the survey;
- "in the done part": the survey is in an earlier chunk (re-read, not written) and the new
  contact in the killed chunk, so the re-read reads back a contact whose later events are
  stored;
- "window": two contacts surveyed in one minute, both surveyed again ten days later (replacing
  the first survey) in the killed chunk; one was evicted, the other kept in state by later
  messages, while their first surveys' window was evicted.
Restoring what the store holds at resume time counted a survey as already merged, so the
rewritten window lost its CSAT ("past", "done"), and brought the window back with the killed
run's later counts, taken off again: -1, refused by ClickHouse ("window": the resume failed).
Every table must equal an uninterrupted replay's (tests/store_tables.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sqm.streams.core.records import EventRecord
from tests.events import ev
from tests.histories import BASE, DAY, HOUR, MINUTE, to_json
from tests.integration.test_outage import ENV, ROOT
from tests.store_tables import differences, store_tables

pytestmark = pytest.mark.integration

CHUNK = 10
PROGRAM = """
import os, signal, sys, time
import sqm.streams.direct as direct
import sqm.streams.direct_feed as feed
import sqm.streams.direct_outbox as outbox

feed.CHUNK_LINES = int(sys.argv[1])
kill_at, rows_in = int(sys.argv[2]), int(sys.argv[3])
real = direct.save_run
stored = [0]  # chunks whose rows are in
real_init = outbox.RowsOutbox.__init__

def init(self, *args, **kwargs):
    real_init(self, *args, **kwargs)
    event = self.stored
    if event is not None:
        real_set = event.set
        def counted():
            if not event.is_set():
                stored[0] += 1
            real_set()
        event.set = counted

def save_run(writer, run):
    if run.lines_done == kill_at:  # the chunk's rows are written, its record is not
        # Held until `rows_in` chunks' rows are in: the next chunks' writes go on meanwhile.
        deadline = time.monotonic() + 60
        while stored[0] < rows_in and time.monotonic() < deadline:
            time.sleep(0.01)
        print(f"killed with {stored[0]} chunks' rows in", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    real(writer, run)

outbox.RowsOutbox.__init__ = init
direct.save_run = save_run
from sqm.streams.cli import main
sys.argv = ["sqm", *sys.argv[4:]]
main()
"""


def run(kill_at: int, *args: str, rows_in: int = 0) -> subprocess.CompletedProcess[str]:
    """The CLI; SIGKILLed when it would record line `kill_at` (-1: never), once the rows of
    `rows_in` chunks are in (its record held meanwhile)."""
    return subprocess.run([sys.executable, "-c", PROGRAM, str(CHUNK), str(kill_at),
                           str(rows_in), *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
                          check=False)


def long_lived(name: str, t0: int, survey_at: int) -> list[EventRecord]:
    kw = {"tenant": "t1", "customer": f"u-{name[2:]}", "channel": "chat"}
    return [
        ev("contact.created", t0, name, queue="orders", priority="normal", **kw),
        ev("contact.queued", t0 + 5_000, name, queue="orders", **kw),
        ev("contact.assigned", t0 + 20_000, name, agent_id="a1", agent_kind="human", **kw),
        ev("message.sent", t0 + 21_000, name, sender="agent", agent_id="a1", public=True, **kw),
        ev("contact.resolved", t0 + 30 * MINUTE, name, resolved_by="human", **kw),
        ev("survey.submitted", survey_at, name, csat=5, **kw),
    ]


def new_contact(name: str, at: int) -> list[EventRecord]:
    # The same customer as the long-lived one: the same shard, so the same window row.
    kw = {"tenant": "t1", "customer": f"u-{name[2:]}", "channel": "chat"}
    return [ev("contact.created", at, name, queue="orders", priority="normal", **kw)]


def history() -> tuple[list[EventRecord], dict[str, str]]:
    """Events in time order, and the event id of each marked event."""
    events = [e for i in range(13 * 24)  # a short phone contact every hour: the clock moves
              for e in (ev("contact.created", BASE + i * HOUR + 17 * MINUTE, f"f{i}",
                           customer=f"f{i}", channel="phone", queue="orders", priority="low"),
                        ev("contact.resolved", BASE + i * HOUR + 19 * MINUTE, f"f{i}",
                           customer=f"f{i}", channel="phone", resolved_by="human"))]
    past = BASE + 10 * DAY + 30 * MINUTE + 5_000
    done = BASE + 11 * DAY + 30 * MINUTE + 5_000
    events += long_lived("a-past", BASE + HOUR, past)
    events += new_contact("b-past", past + 2_000)
    events += long_lived("a-done", BASE + 2 * HOUR, done)
    # Another tenant's contact in between puts the new contact a chunk later.
    kw = {"tenant": "t2", "customer": "u-other", "channel": "chat"}
    events += [ev("contact.created", done + 500, "o1", queue="orders", priority="low", **kw)]
    events += [ev("message.sent", done + 1_000 + i * 1_000, "o1", sender="customer",
                  public=True, **kw) for i in range(CHUNK + 2)]
    events += new_contact("b-done", done + 20_000)
    # Two surveys in one minute, each replaced ten days later: "w-kept" is evicted by then,
    # "w-kept2" stays in state (a message on day 5) while their window is evicted.
    kw = {"tenant": "t1", "customer": "u-win", "channel": "chat"}
    t0, late = BASE + 3 * HOUR, BASE + 10 * DAY + 12 * HOUR
    for name, at in (("w-gone", t0), ("w-kept", t0 + 1_000)):
        events += [
            ev("contact.created", at, name, queue="orders", priority="normal", **kw),
            ev("contact.queued", at + 2_000, name, queue="orders", **kw),
            ev("survey.submitted", t0 + 10 * MINUTE + 5_000, name, csat=3, **kw),
            ev("survey.submitted", late + (at - t0), name, event_id=f"{name}:late", csat=1,
               **kw),
        ]
    events += [ev("message.sent", BASE + d * DAY, "w-kept", sender="customer", public=True, **kw)
               for d in (5, 6)]  # (two: no chunk boundary between the "past" survey and contact)
    events.sort(key=lambda e: e.ts)
    assert done + 20_000 < BASE + 11 * DAY + 31 * MINUTE  # the survey's minute
    marks = {e.contact_id + ":" + e.type: e.event_id for e in events
             if e.contact_id.startswith(("a-", "b-"))}
    marks |= {f"{e.contact_id}:late": e.event_id for e in events if e.event_id.endswith(":late")}
    return events, marks


@pytest.mark.parametrize("case", ["past", "done", "window"])
def test_resume_restoring_evicted_state_gives_the_uninterrupted_store(
        tmp_path: Path, case: str) -> None:
    events, marks = history()
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(to_json(e) for e in events) + b"\n")
    line = {e.event_id: n for n, e in enumerate(events, 1)}
    if case == "window":  # both late surveys in the killed chunk
        survey, new = line[marks["w-gone:late"]], line[marks["w-kept:late"]]
    else:
        survey = line[marks[f"a-{case}:survey.submitted"]]
        new = line[marks[f"b-{case}:contact.created"]]
    kill_at = -(-new // CHUNK) * CHUNK  # the record the killed chunk would have saved
    if case in ("past", "window"):  # the survey is in the killed chunk, past the record
        assert kill_at - CHUNK < survey < new <= kill_at < len(events)
    else:  # the survey is re-read, the new contact is in the killed chunk
        assert survey <= kill_at - CHUNK < new <= kill_at < len(events)
    args = ["replay", str(path), "--no-progress"]
    clean = run(-1, *args, "--store", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    store = str(tmp_path / "store")
    killed = run(kill_at, *args, "--store", store)
    assert killed.returncode == -9, killed.stderr
    resumed = run(-1, *args, "--store", store, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    expected = store_tables(tmp_path / "clean")
    # The surveys are counted in their windows, with the new contacts.
    csat = [r for r in expected["sla_1m"] if r[1] == "t1" and r[2] == "chat"]
    assert csat, expected["sla_1m"][:3]
    assert differences(store_tables(Path(store)), expected) == {}


@pytest.mark.parametrize("ahead", [1, 2])
def test_resume_is_exact_when_the_store_holds_chunks_past_the_record(
        tmp_path: Path, ahead: int) -> None:
    """A chunk's write starts once the chunk before's rows are in, not its record, so a run
    can stop with the rows of up to three chunks past its last record (`PAST_RECORD`). Here
    the record of the chunk `ahead` before the survey's is held until the survey's chunk is
    written, then the run is killed: the store holds the contact's survey, two or three
    chunks past the record. The resumed run must keep restoring evicted state from what it
    evicted through those chunks: read back from the store, the contact came with its survey,
    counted as a duplicate, and its window lost the CSAT (the resume reading the store from
    the second chunk past the record on failed both cases)."""
    events, marks = history()
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(to_json(e) for e in events) + b"\n")
    line = {e.event_id: n for n, e in enumerate(events, 1)}
    survey, new = line[marks["a-past:survey.submitted"]], line[marks["b-past:contact.created"]]
    chunk = -(-survey // CHUNK)  # 1-based: chunks are CHUNK lines from the first
    assert -(-new // CHUNK) == chunk
    held = (chunk - ahead) * CHUNK  # the record held: that of the chunk `ahead` before
    args = ["replay", str(path), "--no-progress"]
    clean = run(-1, *args, "--store", str(tmp_path / "clean"))
    assert clean.returncode == 0, clean.stderr
    store = str(tmp_path / "store")
    killed = run(held, *args, "--store", store, rows_in=chunk)
    assert killed.returncode == -9, killed.stderr
    assert f"killed with {chunk} chunks' rows in" in killed.stderr, killed.stderr
    resumed = run(-1, *args, "--store", store, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert differences(store_tables(Path(store)), store_tables(tmp_path / "clean")) == {}
