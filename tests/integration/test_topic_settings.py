"""SQM_KAFKA_REPLICATION_FACTOR and SQM_KAFKA_TOPIC_CONFIG reach the broker: a `sqm worker`
runs against the embedded broker behind a recording proxy (tests/kafka_proxy.py), and the
CreateTopics requests it sends, from sqm's topic admin and from Faust for its changelogs, are
read back."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from tests.kafka_proxy import ProxiedBroker
from tests.workers import Worker, kill_leftovers, worker_env

pytestmark = pytest.mark.integration

SOURCES = ["sqm.events", "sqm.by-customer", "sqm.dead-letters", "sqm.alert-inputs",
           "sqm.alerts"]
CHANGELOGS = ["sqm-sqm-state-changelog", "sqm-sqm-alert-state-changelog"]


def test_replication_and_topic_configs_reach_create_topics(tmp_path: Path) -> None:
    topic_config = {"retention.ms": "604800000", "min.insync.replicas": "2",
                    "cleanup.policy": "delete"}
    try:
        with ProxiedBroker() as broker:
            worker = Worker(worker_env(
                broker.bootstrap, tmp_path / "store", SQM_PARTITIONS="2",
                SQM_KAFKA_REPLICATION_FACTOR="3",
                SQM_KAFKA_TOPIC_CONFIG=orjson.dumps(topic_config).decode()))
            deadline = time.monotonic() + 90
            while (not set(SOURCES + CHANGELOGS) <= set(broker.created_topics())
                   and time.monotonic() < deadline and worker.proc.poll() is None):
                time.sleep(0.2)
            created = broker.created_topics()
            worker.stop()
    finally:
        kill_leftovers()
    assert set(SOURCES + CHANGELOGS) <= set(created), (sorted(created), worker.errors)
    for topic in SOURCES:
        assert created[topic] == (2, 3, topic_config), topic
    for topic in CHANGELOGS:
        partitions, replication, configs = created[topic]
        assert (partitions, replication) == (2, 3), topic
        # Faust's own changelog configs stay; ours are added, except the cleanup policy.
        assert configs["cleanup.policy"] == "compact", configs
        assert configs["retention.ms"] == "604800000" and configs["min.insync.replicas"] == "2"
