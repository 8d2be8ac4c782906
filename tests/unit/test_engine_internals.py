"""What streams/engine/faust/ relies on inside faust-streaming, aiokafka and mode beyond their
public API, checked on the installed versions: an upgrade that breaks one fails here with the
name of the workaround to revisit, instead of as a silent loss of messages or state.

Each check names the module and function that relies on the internal. Where sqm replaces a
library method with its own version, the library's source is pinned by hash: a change upstream
means the replacement must be re-read against it.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.client import AIOKafkaClient
from faust.stores.memory import Store as MemoryStore
from faust.streams import Stream
from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP
from kafka.partitioner.default import murmur2  # kafka-python's, not aiokafka's
from mode import Worker

from sqm.streams.engine.faust.recovery import OrderedTableManager
from sqm.streams.engine.faust.tables import table_state

ROOT = Path(__file__).resolve().parents[2]


def pinned(name: str) -> str:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return next(d.split("==")[1] for d in deps if d.startswith(f"{name}=="))


def murmur2_partition(key: bytes, n: int) -> int:
    """Kafka's default placement of a keyed record (positive murmur2 modulo n)."""
    return (murmur2(key) & 0x7FFFFFFF) % n


def source_hash(fn: Any) -> str:
    return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]


def test_the_installed_versions_are_the_pinned_ones() -> None:
    for name in ("faust-streaming", "aiokafka"):
        assert version(name) == pinned(name), (
            f"{name} {version(name)} is installed but pyproject pins {pinned(name)}: the "
            "checks below were written against the pin; re-run them and re-read each "
            "workaround they name before moving the pin")


# -- streams/engine/faust/tables.py `table_state`: a table's memory store, written directly --


def test_a_tables_data_is_the_memory_store_with_its_key_partition_map() -> None:
    app = faust.App("internals-test", broker="kafka://127.0.0.1:1", store="memory://",
                    TableManager=OrderedTableManager)
    table = app.Table("t", partitions=4, key_type=bytes, value_type=bytes, default=None)
    store: Any = table.data
    assert isinstance(store, MemoryStore), "tables.table_state: Table.data is no memory Store"
    assert isinstance(store.data, dict) and isinstance(store._key_partition, dict), (
        "tables.table_state: faust's memory Store no longer keeps `data` and `_key_partition` "
        "dicts; the stages write the table's state through them")

    # What the map is for: keys of partitions assigned elsewhere are dropped after recovery.
    state = table_state(table)
    state.partition(0).put("kept", "live", b"x")
    state.partition(1).keep("moved", "live")
    changelog = table.changelog_topic.get_topic_name()
    asyncio.run(store.on_recovery_completed({TP(changelog, 0)}, set()))
    assert store.data == {b"kept": "live"}, (
        "tables.table_state: faust's memory Store no longer drops the keys of revoked "
        "partitions by `_key_partition`; a worker would keep serving stale state")


def test_a_tables_state_is_indexed_again_after_each_recovery() -> None:
    """Faust writes a recovered table's data itself: the customer shards' sweep indexes of it
    (core/sweep_index.py) must be dropped when a recovery ends (`OrderedRecovery.ended`)."""
    app = faust.App("internals-test-index", broker="kafka://127.0.0.1:1", store="memory://",
                    TableManager=OrderedTableManager)
    table = app.Table("t", partitions=4, key_type=bytes, value_type=bytes, default=None)
    state = table_state(table)
    state.partition(0).sweep_index.build([("w", 0)], [])
    assert state.partition(0).sweep_index.built
    cast(Any, app.tables.recovery).ended += 1
    assert not state.partition(0).sweep_index.built


# -- streams/engine/faust/record_batches.py: whole batches through aiokafka -------------------


def test_aiokafka_places_a_keyed_record_as_record_batches_copies_it() -> None:
    src = inspect.getsource(AIOKafkaProducer._partition)
    assert "self._partitioner(serialized_key, all_partitions, available)" in src, (
        "record_batches.RecordBatches._placed copies AIOKafkaProducer._partition; it changed")
    assert "self._metadata.available_partitions_for_topic(topic)" in src

    async def placed() -> int:
        producer = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started
        assert producer._metadata is producer.client.cluster
        place = producer._partitioner
        return int(place(b"k", [0, 1, 2, 3], [0, 1, 2, 3]))

    # murmur2, as Kafka's Java client and Faust's key partitioning place b"k" of 4 partitions
    assert asyncio.run(placed()) == murmur2_partition(b"k", 4), (
        "record_batches.RecordBatches._placed: AIOKafkaProducer._partitioner no longer "
        "places keys by murmur2")
    assert inspect.iscoroutinefunction(AIOKafkaClient._wait_on_metadata), (
        "record_batches.RecordBatches._placed awaits AIOKafkaClient._wait_on_metadata")
    for name in ("create_batch", "send_batch"):
        assert hasattr(AIOKafkaProducer, name), f"record_batches: AIOKafkaProducer.{name} gone"
    assert callable(getattr(faust_aiokafka.Producer, "_ensure_producer", None)), (
        "record_batches.faust_producer: faust's Producer._ensure_producer is gone")


# -- streams/engine/faust/paced_take.py: built on take_events' hooks ---------------------------


def test_take_events_still_uses_the_hooks_take_paced_uses() -> None:
    src = inspect.getsource(Stream.take_events)
    for hook in ("self.enable_acks = False", "self.add_processor(add_to_buffer)",
                 "self._enable_passive(", "self.current_event", "self.wait_for_stopped(",
                 "self._processors.remove(add_to_buffer)"):
        assert hook in src, f"paced_take.take_paced: Stream.take_events no longer uses {hook!r}"
    assert list(inspect.signature(Stream._enable_passive).parameters) == [
        "self", "channel", "declare"], "paced_take.take_paced: Stream._enable_passive changed"
    for name in ("wait", "crash", "ack", "should_stop", "current_event"):
        assert hasattr(Stream, name), f"paced_take.take_paced: Stream.{name} is gone"


# -- streams/engine/faust/recovery.py: recovery with the stream partitions started in order --

# The faust-streaming 0.15.3 methods OrderedRecovery replaces (copied, with `_start_streams`
# in place of their "resume, seek, clear buffers" sequence).
REPLACED = {
    "_resume_streams": "d986a6710c1aca98",
    "on_recovery_completed": "6ef567acf072e46d",
}


@pytest.mark.parametrize("name", sorted(REPLACED))
def test_the_recovery_methods_replaced_are_unchanged_upstream(name: str) -> None:
    assert source_hash(getattr(Recovery, name)) == REPLACED[name], (
        f"recovery.OrderedRecovery.{name} replaces faust's Recovery.{name}, which changed in "
        f"faust-streaming {version('faust-streaming')}: re-read it (does it still resume "
        "the streams before it clears the buffers, faust-streaming/faust#596?) and update the "
        "copy and this hash")


def test_the_recovery_internals_ordered_recovery_uses_exist() -> None:
    assert not hasattr(Recovery, "_start_streams"), (
        "recovery.OrderedRecovery._start_streams now overrides a faust method of that name")
    for name in ("_is_changelog_tp", "_wait", "_set_recovery_ended", "_build_highwaters"):
        assert callable(getattr(Recovery, name, None)), f"recovery: Recovery.{name} is gone"
    assert list(inspect.signature(Recovery._build_highwaters).parameters) == [
        "self", "consumer", "tps", "destination", "title"], (
        "recovery.TansuRecovery._build_highwaters: faust changed the signature")
    assert "value - 1 if value is not None else -1" in inspect.getsource(
        Recovery._build_highwaters), (
        "recovery.TansuRecovery: faust no longer keeps the end offset - 1 per changelog")
    assert "_recovery" in vars(TableManager) and isinstance(TableManager.recovery, property), (
        "recovery.OrderedTableManager: TableManager.recovery / _recovery changed")
    init = inspect.getsource(Consumer.__init__)
    for attr in ("self._read_offset =", "self._committed_offset ="):
        assert attr in init, (f"recovery.OrderedRecovery._rewind writes Consumer.{attr[5:-2]}; "
                              "health.LoopSampler._lag reads _committed_offset")
    for name in ("seek_to_committed", "earliest_offsets", "seek_wait", "stop_flow",
                 "resume_flow", "resume_partitions"):
        assert callable(getattr(Consumer, name, None)), f"recovery: Consumer.{name} is gone"
    assert "_fetcher" in inspect.getsource(faust.App), "recovery: App._fetcher is gone"


# -- streams/engine/faust/runtime.py and ingest_consumer.py ----------------------------------


def test_the_worker_and_consumer_helpers_exist() -> None:
    assert list(inspect.signature(Worker._schedule_shutdown).parameters) == [
        "self", "signal"], "runtime._run_worker calls mode's Worker._schedule_shutdown(signal)"
    assert list(inspect.signature(faust_aiokafka.credentials_to_aiokafka_auth).parameters) == [
        "credentials", "ssl_context"], (
        "ingest_consumer.consumer_config: faust's credentials_to_aiokafka_auth changed")
