"""A recording TCP proxy in front of the embedded broker: it records every request a client
sends (and passes everything through), so a test can read what reached the broker, such as
the replication factor and configs of a CreateTopics request. The broker advertises the
proxy's address, so clients never go round it."""

from __future__ import annotations

import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from sqm.streams.engine.faust.broker import free_port, tansu_binary
from tests.kafka_listener import Request

CREATE_TOPICS = 19


@dataclass
class ProxiedBroker:
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.broker_port, self.port = free_port(), free_port()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(32)
        self._server.settimeout(0.2)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> ProxiedBroker:
        self._proc = subprocess.Popen(
            [str(tansu_binary()), "broker",
             "--listener-url", f"tcp://127.0.0.1:{self.broker_port}",
             "--advertised-listener-url", f"tcp://127.0.0.1:{self.port}",
             "--storage-engine", "memory://tansu/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.broker_port), 0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        threading.Thread(target=self._serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._server.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except (TimeoutError, OSError):
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.broker_port), 5)
            except OSError:
                client.close()
                continue
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        buffer = b""
        try:
            while chunk := client.recv(65536):
                upstream.sendall(chunk)
                buffer += chunk
                while len(buffer) >= 4:
                    (size,) = struct.unpack(">i", buffer[:4])
                    if len(buffer) < 4 + size:
                        break
                    frame, buffer = buffer[4:4 + size], buffer[4 + size:]
                    key, version = struct.unpack(">hh", frame[:4])
                    with self._lock:
                        self.requests.append(Request(key, version, frame))
        except OSError:
            pass
        finally:
            upstream.close()
            client.close()

    @staticmethod
    def _down(upstream: socket.socket, client: socket.socket) -> None:
        try:
            while chunk := upstream.recv(65536):
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            client.close()

    def created_topics(self) -> dict[str, tuple[int, int, dict[str, str | None]]]:
        """name -> (partitions, replication factor, configs) of every CreateTopics seen."""
        with self._lock:
            frames = [r for r in self.requests if r.api_key == CREATE_TOPICS]
        out: dict[str, tuple[int, int, dict[str, str | None]]] = {}
        for r in frames:
            out.update(parse_create_topics(r.frame, r.api_version))
        return out


class _Reader:
    def __init__(self, data: bytes, flexible: bool) -> None:
        self.data, self.pos, self.flexible = data, 0, flexible

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def uvarint(self) -> int:
        shift = result = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def string(self) -> str | None:
        n = self.uvarint() - 1 if self.flexible else self.take(">h")
        if n < 0:
            return None
        text = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return text

    def count(self) -> int:
        return self.uvarint() - 1 if self.flexible else self.take(">i")

    def tags(self) -> None:
        if self.flexible:
            for _ in range(self.uvarint()):
                self.uvarint()
                self.pos += self.uvarint()


def parse_create_topics(frame: bytes, version: int,
                        ) -> Iterator[tuple[str, tuple[int, int, dict[str, str | None]]]]:
    """The topics of a CreateTopics request (header v1, or v2 from version 5 on)."""
    flexible = version >= 5
    r = _Reader(frame, flexible=False)
    r.pos = 8  # api_key, api_version, correlation_id
    r.string()  # client_id: a classic string in every header version
    r.flexible = flexible
    r.tags()
    for _ in range(r.count()):
        name = r.string() or ""
        partitions, replication = r.take(">i"), r.take(">h")
        for _ in range(r.count()):  # manual assignments
            r.take(">i")
            for _ in range(r.count()):
                r.take(">i")
            r.tags()
        configs: dict[str, str | None] = {}
        for _ in range(r.count()):
            key = r.string() or ""
            configs[key] = r.string()
            r.tags()
        r.tags()
        yield name, (partitions, replication, configs)
