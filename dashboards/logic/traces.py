"""Trace search results and the trace waterfall: layout, service colours, critical path."""

from __future__ import annotations

import hashlib
from typing import Any

from dashboards.logic.formatting import DASH, fmt_clock, fmt_ms, is_number, parse_time, pick

SERVICE_PALETTE = ["#3e63dd", "#f76b15", "#30a46c", "#8e4ec6", "#e54666", "#12a594", "#ad7f58",
                   "#0090ff", "#d6409f", "#46a758"]


def service_colour(service: str) -> str:
    """A stable colour per service name (same colour on every page and every load)."""
    digest = hashlib.sha1(service.encode()).digest()
    return SERVICE_PALETTE[digest[0] % len(SERVICE_PALETTE)]


def _is_error(status: Any) -> bool:
    if isinstance(status, dict):
        status = pick(status, "code", "status_code")
    return str(status or "").lower() in {"error", "2", "status_code_error"}


def _duration_s(item: dict) -> float | None:
    ms = pick(item, "duration_ms")
    if is_number(ms):
        return ms / 1000
    ns = pick(item, "duration_ns")
    if is_number(ns):
        return ns / 1e9
    start, end = span_start(item), span_end(item)
    if start is not None and end is not None:
        return end - start
    return None


def span_start(span: dict) -> float | None:
    """Start of a span or trace, epoch seconds."""
    return parse_time(pick(span, "start_ns", "start_time_unix_nano", "start_time", "start", "started_at", "timestamp"))


def span_end(span: dict) -> float | None:
    """End of a span, epoch seconds (from an end time or start + duration)."""
    end = parse_time(pick(span, "end_ns", "end_time_unix_nano", "end_time", "end"))
    if end is not None:
        return end
    start = span_start(span)
    ms = pick(span, "duration_ms")
    if start is not None and is_number(ms):
        return start + ms / 1000
    ns = pick(span, "duration_ns")
    if start is not None and is_number(ns):
        return start + ns / 1e9
    return None


def trace_rows(payload: Any) -> list[dict[str, Any]]:
    """Search results as table rows (newest first)."""
    items = pick(payload, "items", default=payload if isinstance(payload, list) else [])
    rows = []
    for t in items or []:
        if not isinstance(t, dict):
            continue
        start = span_start(t)
        duration = _duration_s(t)
        service = str(pick(t, "root_service", "service", "service_name", default=DASH))
        error = (_is_error(pick(t, "status")) or bool(pick(t, "error", "has_error", default=False))
                 or (is_number(pick(t, "error_count")) and pick(t, "error_count") > 0))
        rows.append({
            "trace_id": str(pick(t, "trace_id", "id", default="")),
            "service": service,
            "colour": service_colour(service),
            "operation": str(pick(t, "root_operation", "operation", "root_name", "name", default=DASH)),
            "start": fmt_clock(start),
            "start_epoch": start or 0.0,
            "duration": fmt_ms(duration),
            "duration_ms": round(duration * 1000, 2) if duration is not None else 0.0,
            "spans": str(pick(t, "span_count", "spans", default=DASH)),
            "status": "error" if error else "ok",
        })
    rows.sort(key=lambda r: r["start_epoch"], reverse=True)
    return rows


def scatter_points(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Duration-over-time scatter data split into ok and error series (x = seconds since first)."""
    if not rows:
        return {"ok": [], "error": []}
    t0 = min(r["start_epoch"] for r in rows)
    out: dict[str, list[dict[str, Any]]] = {"ok": [], "error": []}
    for r in rows:
        out[r["status"]].append({"x": round(r["start_epoch"] - t0, 3), "y": r["duration_ms"],
                                 "trace_id": r["trace_id"]})
    return out


def _spans(payload: Any) -> list[dict]:
    spans = pick(payload, "spans", default=payload if isinstance(payload, list) else [])
    return [s for s in spans or [] if isinstance(s, dict)]


def critical_path(spans: list[dict]) -> set[str]:
    """Span ids on the critical path: from the root, walk back from each span's end through the
    child that finished last before the cursor (Jaeger's definition); time no child covers is the
    span's own work."""
    by_id = {str(pick(s, "span_id", "id")): s for s in spans}
    children: dict[str, list[dict]] = {}
    roots = []
    for s in spans:
        parent = pick(s, "parent_span_id", "parent_id")
        if parent and str(parent) in by_id:
            children.setdefault(str(parent), []).append(s)
        else:
            roots.append(s)
    if not roots:
        return set()
    root = min(roots, key=lambda s: span_start(s) or 0.0)
    on_path: set[str] = set()

    def walk(span: dict, depth: int) -> None:
        sid = str(pick(span, "span_id", "id"))
        on_path.add(sid)
        if depth > 500:
            return
        cursor = span_end(span)
        kids = sorted(children.get(sid, []), key=lambda c: span_end(c) or 0.0, reverse=True)
        for child in kids:
            c_end, c_start = span_end(child), span_start(child)
            if c_end is None or c_start is None or cursor is None:
                continue
            if c_start < cursor:  # finishes after what we already counted? it still overlaps the cursor
                walk(child, depth + 1)
                cursor = c_start
    walk(root, 0)
    return on_path


def waterfall(payload: Any) -> dict[str, Any]:
    """Waterfall rows (depth-first order) with offsets and widths as percentages of the trace."""
    spans = _spans(payload)
    if not spans:
        return {"rows": [], "duration": DASH, "services": [], "start": DASH, "span_count": 0, "errors": 0}
    starts = [span_start(s) for s in spans if span_start(s) is not None]
    ends = [span_end(s) for s in spans if span_end(s) is not None]
    t0 = min(starts) if starts else 0.0
    t1 = max(ends) if ends else t0
    total = max(t1 - t0, 1e-9)
    given = pick(payload, "critical_path") if isinstance(payload, dict) else None
    crit = {str(x) for x in given} if isinstance(given, list) and given else critical_path(spans)
    by_id = {str(pick(s, "span_id", "id")): s for s in spans}
    children: dict[str, list[dict]] = {}
    roots = []
    for s in spans:
        parent = pick(s, "parent_span_id", "parent_id")
        if parent and str(parent) in by_id:
            children.setdefault(str(parent), []).append(s)
        else:
            roots.append(s)
    ordered: list[tuple[dict, int]] = []
    seen: set[str] = set()

    def visit(span: dict, depth: int) -> None:
        sid = str(pick(span, "span_id", "id"))
        if sid in seen:
            return
        seen.add(sid)
        ordered.append((span, depth))
        for child in sorted(children.get(sid, []), key=lambda c: span_start(c) or 0.0):
            visit(child, depth + 1)

    for r in sorted(roots, key=lambda s: span_start(s) or 0.0):
        visit(r, 0)
    rows = []
    services: list[str] = []
    errors = 0
    for span, depth in ordered:
        sid = str(pick(span, "span_id", "id"))
        service = str(pick(span, "service", "service_name", default="?"))
        if service not in services:
            services.append(service)
        start = span_start(span) or t0
        end = span_end(span) or start
        error = _is_error(pick(span, "status", "status_code"))
        errors += error
        left = (start - t0) / total * 100
        rows.append({
            "span_id": sid,
            "name": str(pick(span, "name", "operation", default="?")),
            "service": service,
            "colour": service_colour(service),
            "depth": depth,
            "indent": f"{min(depth, 12) * 12}px",
            "left": f"{left:.3f}%",
            "width": f"{max((end - start) / total * 100, 0.3):.3f}%",
            "offset": fmt_ms(start - t0),
            "duration": fmt_ms(end - start),
            "critical": sid in crit,
            "error": error,
        })
    return {"rows": rows, "duration": fmt_ms(total), "services": services,
            "service_colours": [{"service": s, "colour": service_colour(s)} for s in services],
            "start": fmt_clock(t0, with_date=True), "span_count": len(rows), "errors": errors}


def span_details(payload: Any, span_id: str) -> dict[str, Any]:
    """Attributes, events and status of one span as display rows."""
    for span in _spans(payload):
        if str(pick(span, "span_id", "id")) != span_id:
            continue
        attrs = pick(span, "attributes", default={}) or {}
        if isinstance(attrs, list):  # OTLP key/value list
            attrs = {str(a.get("key")): a.get("value") for a in attrs if isinstance(a, dict)}
        resource = pick(span, "resource", "resource_attributes", default={}) or {}
        if isinstance(resource, dict):
            attrs = {**{f"resource.{k}": v for k, v in resource.items()}, **attrs}
        status = pick(span, "status", default="unset")
        message = ""
        if isinstance(status, dict):
            message = str(pick(status, "message", default=""))
            status = pick(status, "code", default="unset")
        t0 = span_start(span)
        events = []
        for ev in pick(span, "events", default=[]) or []:
            if isinstance(ev, dict):
                at = parse_time(pick(ev, "time_ns", "time_unix_nano", "time", "timestamp"))
                events.append({"name": str(pick(ev, "name", default="?")),
                               "at": fmt_ms(at - t0) if at is not None and t0 is not None else DASH,
                               "attributes": ", ".join(f"{k}={v}" for k, v in
                                                       (pick(ev, "attributes", default={}) or {}).items())})
        return {"span_id": span_id, "name": str(pick(span, "name", "operation", default="?")),
                "service": str(pick(span, "service", "service_name", default="?")),
                "kind": str(pick(span, "kind", default=DASH)),
                "status": str(status), "status_message": message,
                "duration": fmt_ms((span_end(span) or 0) - (t0 or 0)) if t0 is not None else DASH,
                "attributes": [{"key": str(k), "value": str(v)} for k, v in sorted(attrs.items())],
                "events": events}
    return {}
