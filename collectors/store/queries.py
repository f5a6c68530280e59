"""Read side of the telemetry store: every query the API serves, returning plain dicts.

Pages are newest first with an opaque cursor (``<time_ns>:<key>``). Attribute filters match the
compact JSON the writer stores (``"key":"value"`` or ``"key":number``) with LIKE, which keeps
them portable across SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.sql import ColumnElement

from collectors.otlp.convert import dumps, severity_text_of

try:
    from orjson import loads as _json_loads
except ImportError:  # pragma: no cover - orjson is an optional accelerator
    from json import loads as _json_loads
from collectors.query import stats
from collectors.query.timefmt import format_ns
from collectors.query.tree import build_tree
from collectors.store.engine import Store

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUSES = {0: "unset", 1: "ok", 2: "error"}
SEVERITIES = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}


class BadQuery(ValueError):
    """A query parameter that cannot be used; ``field`` names it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class TraceNotFound(LookupError):
    """No span of that trace id is stored."""


@dataclass
class TraceFilter:
    """Trace search criteria; times in ns, durations in ms."""

    service: str | None = None
    operation: str | None = None
    status: str | None = None  # "error" | "ok"
    min_duration_ms: float | None = None
    max_duration_ms: float | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    attrs: list[tuple[str, str]] = field(default_factory=list)
    limit: int = 20
    cursor: str | None = None


@dataclass
class LogFilter:
    """Log search criteria; times in ns."""

    start_ns: int | None = None
    end_ns: int | None = None
    services: list[str] = field(default_factory=list)
    severity: str | None = None  # minimum: a name (INFO, ERROR...) or a number 1-24
    q: str | None = None
    attrs: list[tuple[str, str]] = field(default_factory=list)
    trace_id: str | None = None
    span_id: str | None = None
    limit: int = 100
    cursor: str | None = None

    def min_severity(self) -> int | None:
        if not self.severity:
            return None
        raw = self.severity.strip().upper()
        if raw.isdigit() and 1 <= int(raw) <= 24:
            return int(raw)
        if raw in SEVERITIES:
            return SEVERITIES[raw]
        raise BadQuery("severity", f"unknown severity {self.severity!r} (use TRACE, DEBUG, INFO, WARN, ERROR, "
                                   "FATAL or 1-24)")


def parse_attr(raw: str) -> tuple[str, str]:
    """``key=value`` of an ``attr`` parameter."""
    key, sep, value = raw.partition("=")
    if not sep or not key:
        raise BadQuery("attr", f"attr must be key=value, got {raw!r}")
    return key, value


def _like_escape(text: str) -> str:
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _attr_condition(columns: Sequence[Any], key: str, value: str) -> ColumnElement[bool]:
    k = dumps(key)
    patterns = [f"%{_like_escape(k + ':' + dumps(value))}%"]
    try:
        literal = json.loads(value)
    except ValueError:
        literal = None
    if isinstance(literal, (bool, int, float)) and not isinstance(literal, str):
        raw = _like_escape(k + ":" + dumps(literal))
        patterns += [f"%{raw},%", f"%{raw}}}%"]
    return or_(*(col.like(p, escape="!") for col in columns for p in patterns))


def _parse_cursor(cursor: str | None, field_name: str = "cursor") -> tuple[int, str] | None:
    if not cursor:
        return None
    head, sep, tail = cursor.partition(":")
    if not sep or not head.lstrip("-").isdigit():
        raise BadQuery(field_name, f"invalid cursor {cursor!r}")
    return int(head), tail


def _is_hex(value: str, length: int) -> bool:
    return len(value) == length and all(c in "0123456789abcdef" for c in value)


def normalise_trace_id(trace_id: str, field_name: str = "trace_id") -> str:
    """Lower-case 32-hex trace id, or BadQuery."""
    t = trace_id.strip().lower()
    if not _is_hex(t, 32):
        raise BadQuery(field_name, f"trace id must be 32 hex characters, got {trace_id!r}")
    return t


class TelemetryQueries:
    """The queries of the collectors' API over one Store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.t = store.tables

    # --- traces -------------------------------------------------------------------------------

    def trace(self, trace_id: str) -> dict[str, Any]:
        """The whole trace as a tree (depth-first), with self time, critical path and its log count."""
        trace_id = normalise_trace_id(trace_id)
        s = self.t.spans
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(s).where(s.c.trace_id == trace_id)).mappings().all()
            if not rows:
                raise TraceNotFound(f"no spans stored for trace {trace_id}")
            log_count = conn.execute(
                select(func.count()).select_from(self.t.logs).where(self.t.logs.c.trace_id == trace_id)
            ).scalar_one()
        by_id = {r["span_id"]: r for r in rows}
        tree = build_tree([(r["span_id"], r["parent_span_id"], r["start_ns"], r["end_ns"]) for r in rows])
        spans = []
        for node in tree.order:
            item = _span_item(by_id[node.span_id])
            item.update(depth=node.depth, children=[c.span_id for c in node.children],
                        self_time_ms=node.self_ns / 1e6, critical=node.critical,
                        critical_time_ms=node.critical_ns / 1e6)
            spans.append(item)
        start = min(r["start_ns"] for r in rows)
        end = max(r["end_ns"] for r in rows)
        root = by_id[tree.roots[0].span_id] if tree.roots else rows[0]
        return {
            "trace_id": trace_id,
            "root_service": root["service"], "root_operation": root["name"],
            "start": format_ns(start), "start_ns": start, "duration_ms": (end - start) / 1e6,
            "span_count": len(rows), "error_count": sum(1 for r in rows if r["status_code"] == 2),
            "services": sorted({r["service"] for r in rows}),
            "roots": [n.span_id for n in tree.roots],
            "critical_path": tree.critical_path,
            "spans": spans,
            "logs": {"count": log_count, "href": f"/api/logs?trace_id={trace_id}"},
        }

    def _span_conditions(self, f: TraceFilter) -> list[ColumnElement[bool]]:
        s = self.t.spans.c
        cond: list[ColumnElement[bool]] = []
        if f.service:
            cond.append(s.service == f.service)
        if f.operation:
            cond.append(s.name == f.operation)
        if f.status == "error":
            cond.append(s.status_code == 2)
        elif f.status == "ok":
            cond.append(s.status_code != 2)
        elif f.status:
            raise BadQuery("status", f"status must be 'error' or 'ok', got {f.status!r}")
        if f.min_duration_ms is not None:
            cond.append(s.duration_ns >= int(f.min_duration_ms * 1e6))
        if f.max_duration_ms is not None:
            cond.append(s.duration_ns <= int(f.max_duration_ms * 1e6))
        if f.start_ns is not None:
            cond.append(s.start_ns >= f.start_ns)
        if f.end_ns is not None:
            cond.append(s.start_ns <= f.end_ns)
        for key, value in f.attrs:
            cond.append(_attr_condition([s.attributes, s.resource], key, value))
        return cond

    def search_traces(self, f: TraceFilter) -> dict[str, Any]:
        """Traces with a span matching every criterion, newest matching span first, paginated."""
        s = self.t.spans.c
        cond = self._span_conditions(f)
        cursor = _parse_cursor(f.cursor)
        limit = max(1, min(f.limit, 200))
        page: list[str] = []
        seen: set[str] = set()
        next_cursor: str | None = None
        position = cursor
        chunk = max(64, limit * 4)
        with self.store.engine.connect() as conn:
            while len(page) < limit:
                q = select(s.trace_id, s.start_ns, s.span_id).where(*cond)
                if position is not None:
                    q = q.where(or_(s.start_ns < position[0], and_(s.start_ns == position[0], s.span_id < position[1])))
                rows = conn.execute(q.order_by(s.start_ns.desc(), s.span_id.desc()).limit(chunk)).all()
                if not rows:
                    break
                fresh = [r for r in rows if r.trace_id not in seen]
                shown_before = self._traces_matching_after(conn, cond, cursor, {r.trace_id for r in fresh})
                for r in rows:
                    position = (r.start_ns, r.span_id)
                    if r.trace_id in seen or r.trace_id in shown_before:
                        continue
                    seen.add(r.trace_id)
                    page.append(r.trace_id)
                    if len(page) == limit:
                        next_cursor = f"{r.start_ns}:{r.span_id}"
                        break
                if len(rows) < chunk:
                    break
            summaries = self._summaries(conn, page)
        if next_cursor is not None and not self._more_after(next_cursor, f):
            next_cursor = None
        return {"items": [summaries[t] for t in page if t in summaries], "next_cursor": next_cursor}

    def _traces_matching_after(self, conn: Any, cond: list[ColumnElement[bool]], cursor: tuple[int, str] | None,
                               candidates: set[str]) -> set[str]:
        """Candidates that had a matching span before ``cursor`` in page order: earlier pages showed them."""
        if cursor is None or not candidates:
            return set()
        s = self.t.spans.c
        q = select(s.trace_id).distinct().where(
            *cond, s.trace_id.in_(candidates),
            or_(s.start_ns > cursor[0], and_(s.start_ns == cursor[0], s.span_id >= cursor[1])))
        return {r.trace_id for r in conn.execute(q)}

    def _more_after(self, cursor: str, f: TraceFilter) -> bool:
        """Whether a page after ``cursor`` would hold anything (so the last page says null)."""
        probe = TraceFilter(**{**f.__dict__, "cursor": cursor, "limit": 1})
        s = self.t.spans.c
        pos = _parse_cursor(cursor)
        assert pos is not None
        with self.store.engine.connect() as conn:
            q = select(s.trace_id).where(
                *self._span_conditions(probe),
                or_(s.start_ns < pos[0], and_(s.start_ns == pos[0], s.span_id < pos[1]))
            ).order_by(s.start_ns.desc(), s.span_id.desc()).limit(256)
            cands = {r.trace_id for r in conn.execute(q)}
            if not cands:
                return False
            if len(cands) == 256:
                return True
            return bool(cands - self._traces_matching_after(conn, self._span_conditions(probe), pos, cands))

    def _summaries(self, conn: Any, trace_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not trace_ids:
            return {}
        s = self.t.spans.c
        rows = conn.execute(
            select(s.trace_id, s.span_id, s.parent_span_id, s.name, s.service, s.start_ns, s.end_ns, s.status_code)
            .where(s.trace_id.in_(trace_ids))
        ).all()
        grouped: dict[str, list[Any]] = {}
        for r in rows:
            grouped.setdefault(r.trace_id, []).append(r)
        out = {}
        for trace_id, spans in grouped.items():
            ids = {r.span_id for r in spans}
            roots = [r for r in spans if not r.parent_span_id or r.parent_span_id not in ids]
            root = min(roots or spans, key=lambda r: (r.start_ns, -r.end_ns))
            start = min(r.start_ns for r in spans)
            end = max(r.end_ns for r in spans)
            out[trace_id] = {
                "trace_id": trace_id, "root_service": root.service, "root_operation": root.name,
                "start": format_ns(start), "start_ns": start, "duration_ms": (end - start) / 1e6,
                "span_count": len(spans), "error_count": sum(1 for r in spans if r.status_code == 2),
                "services": sorted({r.service for r in spans}),
                "href": f"/api/traces/{trace_id}",
            }
        return out

    # --- service graph and RED ---------------------------------------------------------------------

    def service_graph(self, start_ns: int, end_ns: int) -> dict[str, Any]:
        """Edges between services from parent/child spans that start in the window."""
        child = self.t.spans.alias("child")
        parent = self.t.spans.alias("parent")
        q = (select(parent.c.service, child.c.service, child.c.duration_ns, child.c.status_code)
             .select_from(child.join(parent, and_(parent.c.trace_id == child.c.trace_id,
                                                  parent.c.span_id == child.c.parent_span_id)))
             .where(child.c.start_ns >= start_ns, child.c.start_ns <= end_ns, child.c.parent_span_id != "",
                    parent.c.service != child.c.service))
        s = self.t.spans.c
        with self.store.engine.connect() as conn:
            edges = stats.service_graph(tuple(r) for r in conn.execute(q))
            node_rows = conn.execute(
                select(s.service, func.count(), func.sum(case((s.status_code == 2, 1), else_=0)))
                .where(s.start_ns >= start_ns, s.start_ns <= end_ns).group_by(s.service)).all()
        nodes = [{"service": r[0], "spans": r[1], "errors": int(r[2] or 0)} for r in node_rows]
        return {"start": format_ns(start_ns), "end": format_ns(end_ns), "nodes": nodes, "edges": edges}

    def services(self) -> dict[str, Any]:
        """Services (and their versions) that have sent spans or logs, most recent first."""
        sv = self.t.services.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(sv.service, sv.service_version, sv.last_seen_ns)
                                .order_by(sv.service, sv.service_version)).all()
        by_service: dict[str, dict[str, Any]] = {}
        for service, version, seen in rows:
            entry = by_service.setdefault(service, {"service": service, "versions": [], "last_seen_ns": 0})
            entry["versions"].append(version)
            entry["last_seen_ns"] = max(entry["last_seen_ns"], seen)
        items = [{**e, "last_seen": format_ns(e["last_seen_ns"])} for e in by_service.values()]
        return {"items": items, "next_cursor": None}

    def operations(self, service: str, start_ns: int, end_ns: int) -> dict[str, Any]:
        """RED per operation of one service from its spans in the window."""
        s = self.t.spans.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(s.name, s.kind, s.duration_ns, s.status_code)
                                .where(s.service == service, s.start_ns >= start_ns, s.start_ns <= end_ns)).all()
        ops = stats.operations((tuple(r) for r in rows), (end_ns - start_ns) / 1e9)
        for op in ops:
            op["kind"] = KINDS.get(op["kind"], str(op["kind"]))
        return {"service": service, "start": format_ns(start_ns), "end": format_ns(end_ns), "items": ops,
                "next_cursor": None}

    # --- logs ---------------------------------------------------------------------------------------

    def log_conditions(self, f: LogFilter) -> list[ColumnElement[bool]]:
        lg = self.t.logs.c
        cond: list[ColumnElement[bool]] = []
        if f.start_ns is not None:
            cond.append(lg.time_ns >= f.start_ns)
        if f.end_ns is not None:
            cond.append(lg.time_ns <= f.end_ns)
        if f.services:
            cond.append(lg.service.in_(f.services))
        sev = f.min_severity()
        if sev is not None:
            cond.append(lg.severity_number >= sev)
        if f.q:
            cond.append(lg.body.ilike(f"%{_like_escape(f.q)}%", escape="!"))
        for key, value in f.attrs:
            cond.append(_attr_condition([lg.attributes, lg.resource], key, value))
        if f.trace_id:
            cond.append(lg.trace_id == normalise_trace_id(f.trace_id))
        if f.span_id:
            span_id = f.span_id.strip().lower()
            if not _is_hex(span_id, 16):
                raise BadQuery("span_id", f"span id must be 16 hex characters, got {f.span_id!r}")
            cond.append(lg.span_id == span_id)
        return cond

    def search_logs(self, f: LogFilter) -> dict[str, Any]:
        """Log records matching every criterion, newest first, paginated."""
        lg = self.t.logs.c
        cond = self.log_conditions(f)
        cursor = _parse_cursor(f.cursor)
        if cursor is not None:
            if not cursor[1].isdigit():
                raise BadQuery("cursor", f"invalid cursor {f.cursor!r}")
            cid = int(cursor[1])
            cond.append(or_(lg.time_ns < cursor[0], and_(lg.time_ns == cursor[0], lg.id < cid)))
        limit = max(1, min(f.limit, 1000))
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(self.t.logs).where(*cond).order_by(lg.time_ns.desc(), lg.id.desc())
                                .limit(limit + 1)).mappings().all()
        items = [log_item(r) for r in rows[:limit]]
        next_cursor = f"{rows[limit - 1]['time_ns']}:{rows[limit - 1]['id']}" if len(rows) > limit else None
        return {"items": items, "next_cursor": next_cursor}

    def logs_after(self, f: LogFilter, after_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Records with id above ``after_id`` matching ``f``, oldest first (live-tail catch-up)."""
        lg = self.t.logs.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(self.t.logs).where(*self.log_conditions(f), lg.id > after_id)
                                .order_by(lg.id.asc()).limit(limit)).mappings().all()
        return [log_item(r) for r in rows]

    def max_log_id(self) -> int:
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.max(self.t.logs.c.id))).scalar_one() or 0)


def _loads(text: str | None) -> Any:
    return _json_loads(text) if text else None


def _span_item(r: Any) -> dict[str, Any]:
    return {
        "trace_id": r["trace_id"], "span_id": r["span_id"], "parent_span_id": r["parent_span_id"] or None,
        "name": r["name"], "kind": KINDS.get(r["kind"], str(r["kind"])),
        "service": r["service"], "service_version": r["service_version"], "instance_id": r["instance_id"],
        "start": format_ns(r["start_ns"]), "start_ns": r["start_ns"], "end_ns": r["end_ns"],
        "duration_ms": r["duration_ns"] / 1e6,
        "status": {"code": STATUSES.get(r["status_code"], str(r["status_code"])), "message": r["status_message"]},
        "attributes": _loads(r["attributes"]) or {}, "events": _loads(r["events"]) or [],
        "links": _loads(r["links"]) or [], "resource": _loads(r["resource"]) or {}, "scope": r["scope"],
    }


def log_item(r: Any) -> dict[str, Any]:
    """API form of a log row (a mapping with the logs table's columns)."""
    trace_id = r["trace_id"]
    return {
        "id": r["id"], "time": format_ns(r["time_ns"]), "time_ns": r["time_ns"],
        "severity": r["severity_text"] or severity_text_of(r["severity_number"]),
        "severity_number": r["severity_number"], "body": r["body"],
        "attributes": _loads(r["attributes"]) or {}, "service": r["service"],
        "service_version": r["service_version"], "instance_id": r["instance_id"],
        "trace_id": trace_id, "span_id": r["span_id"],
        "trace_href": f"/api/traces/{trace_id}" if trace_id else None,
    }


def now_ns() -> int:
    return time.time_ns()
