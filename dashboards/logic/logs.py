"""Log lines for the logs page and the trace view: severity colours, ordering, tail merging."""

from __future__ import annotations

from typing import Any

from dashboards.logic.formatting import fmt_clock_ms, parse_time, pick

SEVERITY_COLOURS = {"trace": "gray", "debug": "gray", "info": "blue", "warn": "amber",
                    "error": "red", "fatal": "crimson"}
SEVERITIES = ["debug", "info", "warn", "error", "fatal"]
TAIL_LIMIT = 200


def severity_of(value: Any) -> str:
    """Normalise a severity text or OTLP number to one of trace/debug/info/warn/error/fatal."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = int(value)
        return ("trace" if n <= 4 else "debug" if n <= 8 else "info" if n <= 12 else
                "warn" if n <= 16 else "error" if n <= 20 else "fatal")
    text = str(value or "info").lower()
    if text.startswith("warn"):
        return "warn"
    if text in {"err", "error", "critical", "crit"}:
        return "error"
    return text if text in SEVERITY_COLOURS else "info"


def log_rows(payload: Any) -> list[dict[str, Any]]:
    """API log records as rows, newest first."""
    items = pick(payload, "items", default=payload if isinstance(payload, list) else [])
    rows = []
    for rec in items or []:
        if not isinstance(rec, dict):
            continue
        ts = parse_time(pick(rec, "time_ns", "time", "timestamp", "time_unix_nano", "observed_time"))
        severity = severity_of(pick(rec, "severity", "severity_text", "level", "severity_number"))
        body = pick(rec, "body", "message", "msg", default="")
        trace_id = str(pick(rec, "trace_id", default="") or "")
        key = str(pick(rec, "id", default="")) or f"{ts}|{pick(rec, 'service')}|{body}"
        rows.append({
            "key": key,
            "epoch": ts or 0.0,
            "time": fmt_clock_ms(ts),
            "service": str(pick(rec, "service", "service_name", default="?")),
            "severity": severity,
            "colour": SEVERITY_COLOURS[severity],
            "body": str(body),
            "trace_id": trace_id,
            "trace_href": f"/trace?id={trace_id}" if trace_id else "",
        })
    rows.sort(key=lambda r: r["epoch"], reverse=True)
    return rows


def merge_tail(existing: list[dict[str, Any]], new: list[dict[str, Any]],
               limit: int = TAIL_LIMIT) -> list[dict[str, Any]]:
    """Add newly fetched lines to the live tail without duplicates, newest first, bounded."""
    seen = {r["key"] for r in existing}
    merged = [r for r in new if r["key"] not in seen] + existing
    merged.sort(key=lambda r: r["epoch"], reverse=True)
    return merged[:limit]
