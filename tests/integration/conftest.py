"""Fixtures shared by the integration tests that run `sqm worker` subprocesses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
