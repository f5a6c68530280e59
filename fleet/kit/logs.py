"""Structured JSON logs on stdout carrying trace_id and span_id, and a bridge to the OTel logs API.

Only the OpenTelemetry *API* is used here; whether records are exported is decided by the SDK the
entry point installs (fleet/kit/sdk.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

from opentelemetry import trace
from opentelemetry._logs import SeverityNumber, get_logger

# LogRecord attributes that are not user-supplied "extra" fields.
_STD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime", "taskName", "color_message"}

_SEVERITY = {logging.DEBUG: SeverityNumber.DEBUG, logging.INFO: SeverityNumber.INFO,
             logging.WARNING: SeverityNumber.WARN, logging.ERROR: SeverityNumber.ERROR,
             logging.CRITICAL: SeverityNumber.FATAL}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Fields passed with ``extra=`` (JSON-safe)."""
    out: dict[str, Any] = {}
    for key, value in vars(record).items():
        if key in _STD_ATTRS or key.startswith("_"):
            continue
        out[key] = value if isinstance(value, (str, int, float, bool)) or value is None else str(value)
    return out


def current_trace_ids() -> tuple[str, str]:
    """(trace_id, span_id) of the current span as lower-case hex, or ("", "") outside a span."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "", ""
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service identity, trace ids, extras."""

    def __init__(self, service: str, version: str, instance: str) -> None:
        super().__init__()
        self._identity = {"service": service, "version": version, "instance": instance}

    def format(self, record: logging.LogRecord) -> str:
        trace_id, span_id = current_trace_ids()
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **self._identity,
            "trace_id": trace_id,
            "span_id": span_id,
        }
        doc.update(extra_fields(record))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


class OtelLogBridge(logging.Handler):
    """Sends Python log records to the OpenTelemetry logs API (exported only if an SDK is installed).

    Records from ``opentelemetry.*`` loggers are dropped, so an exporter failing to export cannot
    feed itself. The current context is attached, so exported records carry trace and span ids.
    """

    def __init__(self, logger_provider: Any = None, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._provider = logger_provider  # None: the global provider (installed by the entry point)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("opentelemetry"):
            return
        try:
            attributes: dict[str, Any] = {"code.function.name": record.funcName, "logger.name": record.name}
            attributes.update(extra_fields(record))
            if record.exc_info and record.exc_info[1] is not None:
                attributes["exception.type"] = type(record.exc_info[1]).__name__
                attributes["exception.message"] = str(record.exc_info[1])
            get_logger(record.name, logger_provider=self._provider).emit(
                timestamp=int(record.created * 1e9),
                severity_number=_SEVERITY.get(record.levelno, SeverityNumber.INFO),
                severity_text="WARN" if record.levelname == "WARNING" else record.levelname,
                body=record.getMessage(),
                attributes=attributes,
            )
        except Exception:  # noqa: BLE001, S110 - never raise into the service; logging from a handler would recurse
            pass


def detach_otel_bridge() -> None:
    """Stop sending log records to OpenTelemetry (before its providers shut down)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, OtelLogBridge):
            root.removeHandler(h)


def configure_logging(service: str, version: str, instance: str, *, level: str = "INFO",
                      stream: TextIO | None = None, otel_bridge: bool = True) -> None:
    """Install JSON stdout logging (and the OTel bridge) on the root logger; called by the entry point."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    out = logging.StreamHandler(stream or sys.stdout)
    out.setFormatter(JsonFormatter(service, version, instance))
    root.addHandler(out)
    if otel_bridge:
        root.addHandler(OtelLogBridge())
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True  # the kit logs each request itself, with trace ids
    for chatty in ("httpx", "httpcore"):  # one line per upstream call adds nothing the client span lacks
        logging.getLogger(chatty).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True
