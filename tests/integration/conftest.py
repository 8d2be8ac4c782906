"""Fixtures shared by the integration tests: an embedded broker for those that run `sqm worker`
subprocesses, and a migrated chDB store per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from clickhouse_connect.driver.client import Client

from sqm.sinks.clickhouse import connect
from sqm.sinks.migrations import migrate
from sqm.streams.engine.faust.broker import EmbeddedBroker, ensure_topics
from tests.workers import kill_leftovers


@pytest.fixture()
def broker(request: pytest.FixtureRequest) -> Iterator[EmbeddedBroker]:
    """A Tansu broker with the test module's `TOPICS` (4 partitions each); kills whatever
    worker a failed test left running."""
    try:
        with EmbeddedBroker() as b:
            ensure_topics(b.bootstrap, request.module.TOPICS, 4)
            yield b
    finally:
        kill_leftovers()


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A migrated chDB store for the module (a module that seeds its own defines its own)."""
    c = connect(f"chdb://{tmp_path_factory.mktemp('chdb')}")
    try:
        migrate(c)
        yield c
    finally:
        c.close()  # frees the engine for other modules' directories
