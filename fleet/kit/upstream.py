"""Calls to other fleet services over HTTP, with W3C trace context and clear errors.

Every call runs in a CLIENT span and carries ``traceparent``/``tracestate`` injected through the
global propagator. Failures are translated here: connection errors and timeouts become
``UpstreamUnavailable`` (503), 5xx answers and unreadable bodies ``UpstreamFailed`` (502), and 4xx
answers are returned to the caller as ``UpstreamResponse`` so it can decide (a declined card is
business, not an outage).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import httpx
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from fleet.kit.errors import UpstreamFailed, UpstreamUnavailable

_log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=2.0)


@dataclass(frozen=True)
class UpstreamResponse:
    """A non-5xx answer from an upstream."""

    status: int
    body: Any  # parsed JSON (or None for an empty body)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_code(self) -> str:
        """The upstream's error code, when it answered a contract error body."""
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("code", "unknown"))
        return "unknown"

    def error_message(self) -> str:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return str(self.body["error"].get("message", ""))
        return ""


def inject_trace_headers(headers: dict[str, str] | None = None) -> dict[str, str]:
    """Headers with the current W3C trace context added (a plain helper for any HTTP client)."""
    carrier: dict[str, str] = dict(headers or {})
    try:
        propagate.inject(carrier)
    except Exception:  # noqa: BLE001 - telemetry must never raise into the service
        _log.debug("trace context injection failed", exc_info=True)
    return carrier


class Upstreams:
    """One shared ``httpx.AsyncClient`` and the base URL of each upstream service."""

    def __init__(self, urls: dict[str, str] | Any, *, transport: httpx.AsyncBaseTransport | None = None,
                 timeout: httpx.Timeout = DEFAULT_TIMEOUT, tracer: trace.Tracer | None = None) -> None:
        self._urls = dict(urls)
        self._tracer = tracer or trace.get_tracer("fleet.kit.upstream")
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout,
                                         limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))

    async def aclose(self) -> None:
        await self._client.aclose()

    def url(self, service: str) -> str:
        try:
            return self._urls[service]
        except KeyError:
            raise UpstreamUnavailable(f"upstream {service!r} is not configured "
                                      f"(set FLEET_UPSTREAM_{service.upper()}_URL)",
                                      details={"upstream": service}) from None

    async def call(self, service: str, method: str, path: str, *, json: Any = None,
                   params: dict[str, Any] | None = None) -> UpstreamResponse:
        """Call ``service``; return its 2xx/4xx answer or raise an UpstreamError for an outage."""
        base = self.url(service)
        with self._tracer.start_as_current_span(f"{method} {service}", kind=SpanKind.CLIENT,
                                           record_exception=False, set_status_on_exception=False) as span:
            span.set_attribute("http.request.method", method)
            span.set_attribute("url.full", base + path)
            span.set_attribute("peer.service", service)
            headers = inject_trace_headers({"accept": "application/json"})
            try:
                resp = await self._client.request(method, base + path, json=json, params=params, headers=headers)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                err = UpstreamUnavailable(f"{service} is unavailable: {type(exc).__name__}: {exc}".rstrip(": "),
                                          details={"upstream": service})
                _fail(span, err, exc)
                raise err from exc
            span.set_attribute("http.response.status_code", resp.status_code)
            if resp.status_code >= 500:
                code, message = _error_of(resp)
                err = UpstreamFailed(f"{service} answered {resp.status_code}: {message or code}",
                                     details={"upstream": service, "upstream_status": resp.status_code,
                                              "upstream_code": code})
                _fail(span, err)
                raise err
            try:
                body = resp.json() if resp.content else None
            except ValueError as exc:
                err = UpstreamFailed(f"{service} answered a body that is not JSON", details={"upstream": service})
                _fail(span, err, exc)
                raise err from exc
            return UpstreamResponse(resp.status_code, body)


def _error_of(resp: httpx.Response) -> tuple[str, str]:
    try:
        err = resp.json().get("error", {})
        return str(err.get("code", "unknown")), str(err.get("message", ""))
    except (ValueError, AttributeError):
        return "unknown", resp.text[:200]


def _fail(span: trace.Span, err: Exception, cause: BaseException | None = None) -> None:
    try:
        span.set_status(Status(StatusCode.ERROR, str(err)))
        span.record_exception(cause or err)
    except Exception:  # noqa: BLE001 - telemetry must never raise into the service
        _log.debug("marking the client span failed", exc_info=True)
