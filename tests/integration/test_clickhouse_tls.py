"""An `https://` store URL means TLS on any port. No ClickHouse server can run here, so a plain
TCP listener on the loopback stands in for one and records the first bytes the client sends:
a TLS ClientHello starts with 0x16 0x03; a cleartext request would start with an HTTP verb and
carry the credentials in its Authorization header (what clickhouse-connect sent to
`https://host:18443` when the URL alone decided)."""

from __future__ import annotations

import socket
import threading

import pytest

from sqm.sinks.clickhouse import StoreError, connect

pytestmark = pytest.mark.integration


def first_bytes_sent(url_for_port: str) -> bytes:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    got: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:  # every connection: read what comes first, then hang up
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.settimeout(5)
            try:
                got.append(conn.recv(4096))
            except OSError:
                pass
            finally:
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with pytest.raises(StoreError):  # the stand-in answers nothing a client accepts
            connect(url_for_port.format(port=port))
    finally:
        stop.set()
        thread.join(10)
        server.close()
    assert got and got[0], "the client sent nothing"
    return got[0]


@pytest.mark.parametrize("template", [
    "https://analyst:s3cret@127.0.0.1:{port}/sqm",  # a non-standard port: 18443 in the report
])
def test_https_means_tls_on_any_port(template: str) -> None:
    data = first_bytes_sent(template)
    assert data[:2] == b"\x16\x03", data[:40]
    assert b"s3cret" not in data and b"Authorization" not in data


def test_http_stays_http() -> None:
    data = first_bytes_sent("http://analyst:s3cret@127.0.0.1:{port}/sqm")
    assert data.split(b" ")[0] in (b"GET", b"POST")
