"""Talking to a Grafana server through grafana-client: where it is, and one-line errors.

The server is named by `SQM_GRAFANA_URL` (e.g. `https://grafana.example.com` or
`http://localhost:3000/grafana` behind a sub-path) and authenticated with a service-account
token in `SQM_GRAFANA_TOKEN` (sent as `Authorization: Bearer <token>`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

if TYPE_CHECKING:  # grafana-client (with requests, ~0.1 s) only once Grafana is called
    from grafana_client import GrafanaApi

__all__ = ["GrafanaError", "GrafanaTarget", "call", "connect"]

T = TypeVar("T")
URL_ENV = "SQM_GRAFANA_URL"
TOKEN_ENV = "SQM_GRAFANA_TOKEN"


class GrafanaError(RuntimeError):
    """A Grafana call failed; the message is one line and never contains the token."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class GrafanaTarget:
    url: str
    token: str = field(repr=False)
    timeout_s: float = 10.0

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return f"GrafanaTarget(url={self.shown_url!r}, timeout_s={self.timeout_s})"

    @property
    def shown_url(self) -> str:
        """The URL without any user:password part."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}".rstrip("/")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GrafanaTarget | None:
        """The target from SQM_GRAFANA_URL and SQM_GRAFANA_TOKEN, or None unless both are set."""
        env = os.environ if env is None else env
        url, token = env.get(URL_ENV, "").strip(), env.get(TOKEN_ENV, "").strip()
        return cls(url, token) if url and token else None


@contextmanager
def connect(target: GrafanaTarget) -> Iterator[GrafanaApi]:
    """A grafana-client API object whose HTTP session is closed on exit."""
    from grafana_client import GrafanaApi

    parts = urlsplit(target.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GrafanaError(f"{URL_ENV} must be an http(s) URL, got {target.shown_url!r}")
    api = GrafanaApi.from_url(target.url, credential=target.token, timeout=target.timeout_s)
    try:
        yield api
    finally:
        api.client.s.close()


def call(target: GrafanaTarget, what: str, fn: Callable[[], T]) -> T:
    """Run one grafana-client call; any failure becomes a one-line `GrafanaError`."""
    from grafana_client.client import GrafanaException
    from requests.exceptions import RequestException

    try:
        return fn()
    except GrafanaException as ex:
        status = ex.status_code or None
        # Grafana explains itself in the body's "message"; grafana-client's own text is generic
        # for some statuses (401 "Unauthorized").
        body = ex.response
        said = body.get("message") if isinstance(body, dict) else None
        detail = _first_line(str(said or ex.message or ex))
        if status is None:  # timeouts and transport errors grafana-client wraps itself
            raise GrafanaError(f"Grafana at {target.shown_url} is unreachable ({detail})") from ex
        raise GrafanaError(
            f"Grafana at {target.shown_url} refused to {what}: HTTP {status} ({detail})", status
        ) from ex
    except (RequestException, OSError) as ex:
        raise GrafanaError(
            f"Grafana at {target.shown_url} is unreachable ({_first_line(str(ex))})"
        ) from ex


def _first_line(text: str) -> str:
    text = text.strip()
    return text.splitlines()[0][:300] if text else "no detail"
