"""`sqm alerts ack`: a person acknowledges a firing alert through the stream.

The acknowledgement travels on `sqm.alert-inputs` like everything the alert stage acts on, so
it is ordered with the alert's own inputs, recorded in the stage's changelog, and written to
`sqm.alerts` (topic and table) as a new version of the alert by the worker that owns it.
"""

from __future__ import annotations

import logging
import time

from sqm.streams.config import ConfigError, Settings
from sqm.streams.core.wire import ack_message
from sqm.streams.engine.faust.broker import BrokerError, kafka_error
from sqm.streams.kafka_auth import client_auth


def send_ack(settings: Settings, alert_id: str, timeout_s: float = 5.0) -> int:
    """Send the acknowledgement to every alert partition; return how many."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    if not settings.kafka_bootstrap:
        raise ConfigError("alerts ack needs the broker the workers use: set SQM_KAFKA_BOOTSTRAP")
    value = ack_message(alert_id, int(time.time() * 1000))
    # kafka-python logs every failed connection attempt; the one line below says it all.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    auth = client_auth(settings)
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                 request_timeout_ms=int(timeout_s * 1000),
                                 max_block_ms=int(timeout_s * 1000),
                                 bootstrap_timeout_ms=int(timeout_s * 1000),
                                 **auth)
        try:
            for p in range(settings.partitions):
                producer.send(settings.alert_inputs_topic, value=value, key=str(p).encode(),
                              partition=p).get(timeout=timeout_s)
        finally:
            producer.close(timeout=1)
    except KafkaError as exc:
        raise BrokerError(f"could not send the acknowledgement: "
                          f"{kafka_error(settings.kafka_bootstrap, exc, auth)}") from None
    return settings.partitions
