"""The embedded broker: starts on a free loopback port, stops cleanly, fails with one line."""

from __future__ import annotations

import socket

import pytest
from kafka import KafkaAdminClient

from streams.broker import BrokerError, EmbeddedBroker, ensure_topics

pytestmark = pytest.mark.integration


def test_starts_on_loopback_creates_topics_and_stops() -> None:
    with EmbeddedBroker() as broker:
        assert broker.bootstrap.startswith("127.0.0.1:")
        ensure_topics(broker.bootstrap, ["a", "b"], partitions=3)
        ensure_topics(broker.bootstrap, ["a"], partitions=3)  # idempotent
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            topics = {t["name"]: len(t["partitions"]) for t in admin.describe_topics(["a", "b"])}
        finally:
            admin.close()
        assert topics == {"a": 3, "b": 3}
        pid = broker.pid
    assert broker.pid is None and pid is not None
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(broker.bootstrap.split(":")[1])), timeout=1)


def test_a_busy_port_is_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(BrokerError) as info:
            EmbeddedBroker(port=port).start(timeout_s=5)
    message = str(info.value)
    assert "\n" not in message
    assert str(port) in message
