"""The ClickHouse password from a file (SQM_CLICKHOUSE_PASSWORD_FILE) is what the client sends.
No ClickHouse server can run here, so a loopback HTTP listener stands in for one and records
the first request's headers (plain http://, so they can be read; https:// is TLS on any port,
tests/integration/test_clickhouse_tls.py)."""

from __future__ import annotations

import base64
import socket
import threading
from pathlib import Path

import pytest

from sqm.sinks.clickhouse import StoreError, connect
from sqm.streams.config import ConfigError, load_settings
from sqm.streams.store import store_url

pytestmark = pytest.mark.integration


def first_request(url_for_port: str, password_file: Path, user: str | None) -> bytes:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:  # every connection: read the request head, then hang up
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.settimeout(5)
            data = b""
            try:
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                pass
            finally:
                got.append(data)
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    settings = load_settings(clickhouse_url=url_for_port.format(port=port),
                             clickhouse_password_file=password_file, clickhouse_user=user)
    try:
        with pytest.raises(StoreError):  # the stand-in hangs up
            connect(store_url(settings))
    finally:
        stop.set()
        thread.join(10)
        server.close()
    assert got and got[0], "the client sent nothing"
    return got[0]


def _credentials(request: bytes) -> tuple[str, str]:
    headers = {}
    for line in request.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if b"authorization" in headers:
        user, _, password = base64.b64decode(
            headers[b"authorization"].removeprefix(b"Basic ")).partition(b":")
        return user.decode(), password.decode()
    return headers[b"x-clickhouse-user"].decode(), headers[b"x-clickhouse-key"].decode()


@pytest.mark.parametrize(("url", "user", "expected_user"), [
    ("http://127.0.0.1:{port}/sqm", "sqm_writer", "sqm_writer"),
    ("http://analyst@127.0.0.1:{port}/sqm", None, "analyst"),
])
def test_the_password_file_is_sent(url: str, user: str | None, expected_user: str,
                                   tmp_path: Path) -> None:
    secret = tmp_path / "ch-password"
    secret.write_text("s3cr@t:/ x\n")  # the newline `echo` adds is not part of it
    request = first_request(url, secret, user)
    assert _credentials(request) == (expected_user, "s3cr@t:/ x")


def test_chdb_has_no_password(tmp_path: Path) -> None:
    secret = tmp_path / "ch-password"
    secret.write_text("x\n")
    with pytest.raises(ConfigError, match="SQM_CLICKHOUSE_PASSWORD_FILE needs an http"):
        load_settings(clickhouse_url=f"chdb://{tmp_path / 'store'}",
                      clickhouse_password_file=secret)
