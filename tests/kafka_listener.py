"""A loopback TCP listener that records what a Kafka client sends first, for tests of the
client's security settings where no TLS or SASL broker can run.

It answers ApiVersions (api_key 18) the way a Kafka 3 broker does, so a SASL client goes on to
its SaslHandshake (api_key 17), which is recorded and never answered (or, with `refuse_sasl`,
refused).
A TLS client's first bytes are a ClientHello (0x16 0x03), recorded as is. Everything else is
recorded and the connection closed.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

API_VERSIONS, SASL_HANDSHAKE = 18, 17
# api_key: max version of a Kafka 3.x broker (min 0): enough for clients to settle their
# versions and reach authentication.
BROKER_APIS = {
    0: 9, 1: 13, 2: 7, 3: 12, 8: 8, 9: 8, 10: 4, 11: 9, 12: 4, 13: 5, 14: 5, 15: 5, 16: 4,
    17: 1, 18: 3, 19: 7, 20: 6, 21: 2, 22: 4, 23: 4, 24: 3, 25: 3, 26: 3, 27: 1, 28: 3,
    29: 3, 30: 3, 31: 3, 32: 4, 33: 2, 34: 2, 35: 4, 36: 2, 37: 3, 42: 2, 43: 2, 44: 1,
    47: 0, 48: 1, 49: 1, 50: 0, 51: 0, 60: 0, 61: 0,
}


@dataclass(frozen=True)
class Request:
    api_key: int
    api_version: int
    frame: bytes  # the whole request after its size


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def api_versions_response(correlation_id: int, version: int) -> bytes:
    """ApiVersions' response (its header is v0 at every version; v3+ bodies are flexible)."""
    body = struct.pack(">ih", correlation_id, 0)
    if version >= 3:
        body += _uvarint(len(BROKER_APIS) + 1)
        for key, high in BROKER_APIS.items():
            body += struct.pack(">hhh", key, 0, high) + _uvarint(0)
        body += struct.pack(">i", 0) + _uvarint(0)
    else:
        body += struct.pack(">i", len(BROKER_APIS))
        for key, high in BROKER_APIS.items():
            body += struct.pack(">hhh", key, 0, high)
        if version >= 1:
            body += struct.pack(">i", 0)
    return struct.pack(">i", len(body)) + body


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


@dataclass
class KafkaListener:
    """`with KafkaListener() as k:` point a client at `k.bootstrap`, then `k.wait(...)`."""

    # Answer SaslHandshake with UNSUPPORTED_SASL_MECHANISM (33), offering PLAIN: a broker that
    # refuses the client's mechanism.
    refuse_sasl: bool = False
    # Serve TLS with this context (a broker with SSL or SASL_SSL): requests are then read
    # inside TLS, and the client's certificate, if it sent one, is kept in `peer_certs`.
    tls: ssl.SSLContext | None = None
    peer_certs: list[dict[str, Any]] = field(default_factory=list)
    tls_errors: list[str] = field(default_factory=list)  # TLS handshakes that failed
    tls_hellos: list[bytes] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> KafkaListener:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            if self.tls is not None:
                try:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                except ssl.SSLError as exc:
                    with self._lock:
                        self.tls_errors.append(str(exc))
                    return
                if cert := conn.getpeercert():
                    with self._lock:
                        self.peer_certs.append(dict(cert))
            while True:
                head = _recv_exact(conn, 4)
                if head[:2] == b"\x16\x03" and self.tls is None:
                    with self._lock:
                        self.tls_hellos.append(head + conn.recv(4096))
                    return
                (size,) = struct.unpack(">i", head)
                frame = _recv_exact(conn, size)
                key, version, correlation_id = struct.unpack(">hhi", frame[:8])
                with self._lock:
                    self.requests.append(Request(key, version, frame))
                if key == SASL_HANDSHAKE and self.refuse_sasl:
                    body = struct.pack(">ihih", correlation_id, 33, 1, 5) + b"PLAIN"
                    conn.sendall(struct.pack(">i", len(body)) + body)
                    continue
                if key != API_VERSIONS:
                    return
                conn.sendall(api_versions_response(correlation_id, version))
        except OSError:
            pass
        finally:
            conn.close()

    def wait(self, until: str, timeout_s: float = 15.0) -> bool:
        """Wait for a TLS hello (`until="tls"`) or a SaslHandshake (`"sasl"`)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if until == "tls" and self.tls_hellos:
                    return True
                if until == "sasl" and any(r.api_key == SASL_HANDSHAKE for r in self.requests):
                    return True
            time.sleep(0.05)
        return False

    def handshakes(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.api_key == SASL_HANDSHAKE]
