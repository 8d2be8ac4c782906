"""A Kafka or ClickHouse that cannot be reached at start is one line on stderr naming it and
the setting to check, within a bounded time, and a non-zero exit: never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.kafka_listener import KafkaListener

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NO_KAFKA = {"SQM_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
NO_CLICKHOUSE = {"SQM_CLICKHOUSE_URL": "https://127.0.0.1:1/"}
KAFKA_LINE = ("Kafka at 127.0.0.1:1 is unreachable", "SQM_KAFKA_BOOTSTRAP")
CLICKHOUSE_LINE = ("ClickHouse at https://127.0.0.1:1/ is unreachable", "SQM_CLICKHOUSE_URL")
EVENTS = str(ROOT / "tests" / "data" / "messy.jsonl")


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["worker"], NO_KAFKA, KAFKA_LINE),
    (["replay", EVENTS, "--engine", "faust"], NO_KAFKA, KAFKA_LINE),
    (["alerts", "ack", "a1"], NO_KAFKA, KAFKA_LINE),
    (["worker"], NO_CLICKHOUSE, CLICKHOUSE_LINE),
    (["replay", EVENTS, "--engine", "faust"], NO_CLICKHOUSE, CLICKHOUSE_LINE),
    (["migrate"], NO_CLICKHOUSE, CLICKHOUSE_LINE),
    (["sql", "SELECT 1"], NO_CLICKHOUSE, CLICKHOUSE_LINE),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_unreachable_at_start_is_one_line(args: list[str], env: dict[str, str],
                                          expected: tuple[str, str], tmp_path: Path) -> None:
    full_env = {"PATH": os.environ.get("PATH", ""), "TZ": "UTC", **env}
    if "SQM_CLICKHOUSE_URL" not in env:
        full_env["SQM_CLICKHOUSE_URL"] = f"chdb://{tmp_path / 'store'}"
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "sqm.streams.cli", *args], cwd=tmp_path,
                         env={**full_env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - started
    lines = run.stderr.strip().splitlines()
    assert run.returncode != 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("error: ") and all(part in lines[0] for part in expected), lines
    assert elapsed < 30, f"{elapsed:.1f} s"


@pytest.mark.parametrize(("protocol", "check"), [
    ("SASL_PLAINTEXT", "SQM_KAFKA_SECURITY_PROTOCOL and SQM_KAFKA_SASL_*"),
    ("SASL_SSL", "SQM_KAFKA_SECURITY_PROTOCOL, SQM_KAFKA_SSL_CAFILE and SQM_KAFKA_SASL_*"),
])
def test_failed_handshakes_name_the_security_settings(protocol: str, check: str,
                                                      tmp_path: Path) -> None:
    """kafka-python retries a refused SaslHandshake (or a TLS handshake the broker hangs up
    on) until its timeout, as it does a broker that does not answer: the line names the SASL
    and TLS settings as well as the address."""
    secret = tmp_path / "kafka-password"
    secret.write_text("wrong\n")
    with KafkaListener(refuse_sasl=True) as listener:
        env = {"PATH": os.environ.get("PATH", ""), "TZ": "UTC", "PYTHONPATH": str(ROOT),
               "SQM_KAFKA_BOOTSTRAP": listener.bootstrap,
               "SQM_KAFKA_SECURITY_PROTOCOL": protocol,
               "SQM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-256", "SQM_KAFKA_SASL_USERNAME": "sqm",
               "SQM_KAFKA_SASL_PASSWORD_FILE": str(secret),
               "SQM_CLICKHOUSE_URL": f"chdb://{tmp_path / 'store'}"}
        run = subprocess.run([sys.executable, "-m", "sqm.streams.cli", "worker"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=120)
        reached = listener.handshakes() if protocol == "SASL_PLAINTEXT" else listener.tls_hellos
        assert reached, "the worker never got to the handshake"
    lines = run.stderr.strip().splitlines()
    assert run.returncode != 0 and "Traceback" not in run.stderr, run.stderr
    assert lines == [f"error: Kafka at {listener.bootstrap} is unreachable or refused sqm's "
                     f"credentials (KafkaTimeoutError): check SQM_KAFKA_BOOTSTRAP, {check}"], lines
