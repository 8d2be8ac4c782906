"""Every Kafka client sqm makes follows the security settings. No TLS or SASL broker can run
here, so each client is pointed at a loopback listener (tests/kafka_listener.py) that records
what it sends first: with SSL or SASL_SSL a TLS ClientHello; with SASL_PLAINTEXT, after
ApiVersions, a SaslHandshake naming the mechanism.

Each client is reached through the code that makes it in sqm (run_pipeline, build_app's app
and ingest consumer, replay, the demo's feed, alerts ack, the Tansu recovery probe). The Faust
app is built without ClickHouse (`NoWriter`): no test here writes a row. The source scan at the
end fails when a function that makes a Kafka client has no case here.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from sqm.streams.config import Settings, load_settings
from tests.kafka_listener import KafkaListener

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENT_NAMES = {"AIOKafkaConsumer", "AIOKafkaProducer", "KafkaProducer", "KafkaConsumer",
                "KafkaAdminClient", "AIOKafkaAdminClient", "App"}


class NoWriter:
    """The pipeline is built but never writes here: only its Kafka clients are exercised."""

    client = None

    def retrying(self, call: Any) -> Any:
        return call()


def _pipeline(settings: Settings, bootstrap: str) -> Any:
    from sqm.streams.engine.faust.app import build_app

    pipeline = build_app(settings, bootstrap, NoWriter())  # type: ignore[arg-type]
    pipeline.extras.update(bootstrap=bootstrap, rate=5.0, writer=NoWriter())
    return pipeline


def _in_thread(run: Callable[[], Any]) -> None:
    def quietly() -> None:
        with contextlib.suppress(BaseException):  # the listener never lets a client succeed
            run()

    threading.Thread(target=quietly, daemon=True).start()


def _async(make: Callable[[], Coroutine[Any, Any, Any]]) -> Callable[[], Any]:
    return lambda: asyncio.run(asyncio.wait_for(make(), 20))


def drive_topic_admin(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    from sqm.streams.engine.faust.runtime import run_pipeline

    return lambda: run_pipeline(settings)  # its first Kafka call creates the topics


def drive_faust_app(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    app = _pipeline(settings, bootstrap).app
    return _async(lambda: app.producer.start())


def drive_faust_consumer(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    app = _pipeline(settings, bootstrap).app
    return _async(lambda: app.consumer.start())  # also the client Faust creates topics with


def drive_ingest_consumer(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    consumer = _pipeline(settings, bootstrap).ingest_consumer
    return _async(consumer.on_start)


def drive_previous_group_lookup(settings: Settings, bootstrap: str,
                                tmp: Path) -> Callable[[], Any]:
    consumer = _pipeline(settings, bootstrap).ingest_consumer

    class NothingCommitted:  # the ingest group's own consumer: nothing committed yet
        async def committed(self, tp: TopicPartition) -> None:
            return None

    consumer.consumer = NothingCommitted()
    return _async(lambda: consumer.resume_previous({TopicPartition(settings.input_topic, 0)}))


def drive_tansu_probe(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    from sqm.streams.engine.faust.broker import tansu_end_offsets
    from sqm.streams.engine.faust.recovery import _auth

    app = _pipeline(settings, bootstrap).app
    reported = {TopicPartition("sqm-sqm-state-changelog", 0): 5}
    return _async(lambda: tansu_end_offsets(bootstrap, reported, auth=_auth(app)))


def drive_replay_producer(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    from sqm.streams.engine.faust.replay import replay

    events = tmp / "events.jsonl"
    events.write_text('{"contact_id": "c1"}\n')
    pipeline = _pipeline(settings, bootstrap)
    return _async(lambda: replay(pipeline, events, show_progress=False))


def drive_demo_feed(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    from sqm.streams.demo import start_feed

    pipeline = _pipeline(settings, bootstrap)

    async def run() -> None:
        await start_feed(pipeline, asyncio.Event())

    return _async(run)


def drive_alerts_ack(settings: Settings, bootstrap: str, tmp: Path) -> Callable[[], Any]:
    from sqm.streams.alert_ack import send_ack

    return lambda: send_ack(settings, "a1", timeout_s=10)


# The function in streams/ that makes each client (a note after a space: another client of
# the same function) -> how the test reaches it.
DRIVERS: dict[str, Callable[[Settings, str, Path], Callable[[], Any]]] = {
    "sqm.streams.engine.faust.broker:ensure_topics": drive_topic_admin,
    "sqm.streams.engine.faust.app:_faust_app": drive_faust_app,  # its producer
    "sqm.streams.engine.faust.app:_faust_app (consumer)": drive_faust_consumer,
    "sqm.streams.engine.faust.ingest_consumer:IngestConsumer.__init__": drive_ingest_consumer,
    "sqm.streams.engine.faust.ingest_consumer:committed_offsets": drive_previous_group_lookup,
    "sqm.streams.engine.faust.broker:tansu_end_offsets": drive_tansu_probe,
    "sqm.streams.engine.faust.replay:produce_file": drive_replay_producer,
    "sqm.streams.demo:feed": drive_demo_feed,
    "sqm.streams.alert_ack:send_ack": drive_alerts_ack,
}


def secure_settings(bootstrap: str, protocol: str, tmp: Path,
                    mechanism: str = "SCRAM-SHA-512") -> Settings:
    overrides: dict[str, Any] = {"kafka_bootstrap": bootstrap,
                                 "kafka_security_protocol": protocol,
                                 "broker_profile": "tansu",  # the recovery probe's app
                                 "clickhouse_url": f"chdb://{tmp / 'never-opened'}"}
    if protocol.startswith("SASL"):
        secret = tmp / "kafka-password"
        secret.write_text("s3cret\n")
        overrides.update(kafka_sasl_mechanism=mechanism, kafka_sasl_username="sqm-worker",
                         kafka_sasl_password_file=secret)
    return load_settings(**overrides)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_tls_protocols_start_with_a_client_hello(client: str, protocol: str,
                                                 tmp_path: Path) -> None:
    with KafkaListener() as listener:
        settings = secure_settings(listener.bootstrap, protocol, tmp_path)
        _in_thread(DRIVERS[client](settings, listener.bootstrap, tmp_path))
        assert listener.wait("tls"), f"{client}: no TLS ClientHello; sent {listener.requests}"
        assert listener.tls_hellos[0][:2] == b"\x16\x03"
        assert listener.requests == []  # nothing in clear before it


@pytest.mark.parametrize("client", sorted(DRIVERS))
def test_sasl_plaintext_sends_a_sasl_handshake_naming_the_mechanism(client: str,
                                                                    tmp_path: Path) -> None:
    with KafkaListener() as listener:
        settings = secure_settings(listener.bootstrap, "SASL_PLAINTEXT", tmp_path)
        _in_thread(DRIVERS[client](settings, listener.bootstrap, tmp_path))
        assert listener.wait("sasl"), f"{client}: no SaslHandshake; sent {listener.requests}"
        first = listener.requests[0]
        assert first.api_key == 18  # ApiVersions, then the handshake
        # SaslHandshake's body is the mechanism as a Kafka string: int16 length, then bytes.
        assert listener.handshakes()[0].frame.endswith(b"\x00\x0dSCRAM-SHA-512")
        assert not listener.tls_hellos


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256"])
def test_the_mechanism_setting_is_the_one_sent(mechanism: str, tmp_path: Path) -> None:
    with KafkaListener() as listener:
        settings = secure_settings(listener.bootstrap, "SASL_PLAINTEXT", tmp_path, mechanism)
        _in_thread(drive_alerts_ack(settings, listener.bootstrap, tmp_path))
        _in_thread(drive_faust_app(settings, listener.bootstrap, tmp_path))
        deadline = time.monotonic() + 15
        while len(listener.handshakes()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(listener.handshakes()) >= 2  # one from each client
        for request in listener.handshakes():
            assert request.frame.endswith(len(mechanism).to_bytes(2, "big") + mechanism.encode())


def _client_makers() -> set[str]:
    """`module:function` of every function in streams/ that constructs a Kafka client (a call
    of one of the client classes, or one as a parameter's default)."""
    found = set()
    for path in sorted((ROOT / "streams").rglob("*.py")):
        module = ".".join(("sqm", *path.relative_to(ROOT).with_suffix("").parts))
        tree = ast.parse(path.read_text())

        def visit(node: ast.AST, scope: list[str], module: str = module) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                    inner = [*scope, child.name]
                    if not isinstance(child, ast.ClassDef) and _makes_client(child):
                        found.add(f"{module}:{'.'.join(inner)}")
                    visit(child, inner)

        visit(tree, [])
    return found


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _makes_client(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    defaults = [*fn.args.defaults, *(d for d in fn.args.kw_defaults if d is not None)]
    if any(_name(d) in CLIENT_NAMES for d in defaults):
        return True
    for node in ast.walk(fn):
        # faust.App(...) or AIOKafka*(...); `App` alone must be Faust's.
        if isinstance(node, ast.Call) and _name(node.func) in CLIENT_NAMES and (
                _name(node.func) != "App"
                or _name(getattr(node.func, "value", None)) == "faust"):
            return True
    return False


def test_every_function_that_makes_a_kafka_client_is_tested_above() -> None:
    makers = _client_makers()
    tested = {name.split(" ")[0] for name in DRIVERS}
    assert makers == tested, (
        f"untested: {sorted(makers - tested)}; gone: {sorted(tested - makers)}")


def _make_cert(tmp: Path, name: str, key_password: str | None = None) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (openssl), and its key (encrypted if asked)."""
    cert, key = tmp / f"{name}.pem", tmp / f"{name}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-days", "1", "-subj", f"/CN={name}",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert),
         *(["-passout", f"pass:{key_password}"] if key_password else ["-noenc"])],
        check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
@pytest.mark.parametrize("client", ["sqm.streams.alert_ack:send_ack",
                                    "sqm.streams.engine.faust.app:_faust_app"])
def test_mutual_tls_then_sasl_inside_it(client: str, tmp_path: Path) -> None:
    """A broker whose certificate the CA file vouches for, asking for a client certificate:
    the client verifies it, presents its own (key decrypted with the key password file) and
    sends its SASL handshake inside TLS."""
    broker_cert, broker_key = _make_cert(tmp_path, "broker")
    client_cert, client_key = _make_cert(tmp_path, "sqm-client", key_password="k3y pass")
    key_password = tmp_path / "key-password"
    key_password.write_text("k3y pass\n")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(broker_cert, broker_key)
    tls.verify_mode = ssl.CERT_REQUIRED
    tls.load_verify_locations(client_cert)
    with KafkaListener(tls=tls) as listener:
        settings = secure_settings(listener.bootstrap, "SASL_SSL", tmp_path).model_copy(update={
            "kafka_ssl_cafile": broker_cert, "kafka_ssl_certfile": client_cert,
            "kafka_ssl_keyfile": client_key, "kafka_ssl_key_password_file": key_password})
        _in_thread(DRIVERS[client](settings, listener.bootstrap, tmp_path))
        assert listener.wait("sasl"), f"{client}: no SaslHandshake inside TLS"
        assert listener.handshakes()[0].frame.endswith(b"\x00\x0dSCRAM-SHA-512")
        subject = dict(item[0] for item in listener.peer_certs[0]["subject"])
        assert subject["commonName"] == "sqm-client"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_a_broker_certificate_the_ca_file_does_not_vouch_for_is_refused(tmp_path: Path) -> None:
    broker_cert, broker_key = _make_cert(tmp_path, "broker")
    other_ca, _ = _make_cert(tmp_path, "other-ca")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(broker_cert, broker_key)
    with KafkaListener(tls=tls) as listener:
        settings = secure_settings(listener.bootstrap, "SSL", tmp_path).model_copy(
            update={"kafka_ssl_cafile": other_ca})
        _in_thread(drive_alerts_ack(settings, listener.bootstrap, tmp_path))
        deadline = time.monotonic() + 15
        while not listener.tls_errors and time.monotonic() < deadline:
            time.sleep(0.05)
        # The client hung up in the handshake (the server sees its alert: unknown CA).
        assert listener.tls_errors and listener.requests == [], listener.tls_errors
