"""Shaping API payloads into rows and chart data for the fleet overview and the service page.

The API's field names are read through ``pick`` with a few accepted spellings, so a small
naming difference in a payload degrades to a dash rather than a crash.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from dashboards.logic.formatting import DASH, fmt_clock, fmt_ms, fmt_pct, fmt_rps, is_number, parse_time, pick

# Colours (Radix colour names, valid in light and dark themes).
HEALTH_COLOURS = {"ok": "#30a46c", "warn": "#f5d90a", "bad": "#e5484d", "unknown": "#8b8d98"}
VERSION_PALETTE = ["#3e63dd", "#f76b15", "#30a46c", "#8e4ec6", "#e54666", "#12a594", "#ffc53d", "#0090ff"]

WARN_ERROR_RATIO = 0.01
BAD_ERROR_RATIO = 0.05


def health_of(error_ratio: Any, rps: Any = None) -> str:
    """'ok' / 'warn' / 'bad' from an error ratio; 'unknown' when there is no data to judge."""
    if not is_number(error_ratio):
        return "unknown"
    if error_ratio >= BAD_ERROR_RATIO:
        return "bad"
    if error_ratio >= WARN_ERROR_RATIO:
        return "warn"
    return "ok"


def instance_health(value: Any) -> str:
    """Map an instance health string from the runtime onto ok/warn/bad/unknown."""
    text = str(value or "").lower()
    if text in {"healthy", "ready", "running", "ok", "up"}:
        return "ok"
    if text in {"starting", "pending", "degraded", "restarting", "backoff", "back_off"}:
        return "warn"
    if text in {"unhealthy", "dead", "failed", "crashed", "down", "stopped", "exited"}:
        return "bad"
    return "unknown"


def points(series: Any) -> list[tuple[float, float]]:
    """(epoch seconds, value) pairs from [[t, v]], [{t|time|timestamp, v|value}] or a list of numbers."""
    out: list[tuple[float, float]] = []
    if isinstance(series, dict):
        series = pick(series, "points", "values", "data", default=[])
    if not isinstance(series, list):
        return out
    for i, item in enumerate(series):
        if isinstance(item, (list, tuple)) and len(item) >= 2:
            t, v = parse_time(item[0]), item[1]
        elif isinstance(item, dict):
            t, v = parse_time(pick(item, "t", "time", "timestamp", "at")), pick(item, "v", "value")
        else:
            t, v = float(i), item
        try:
            value = float(v)
        except (TypeError, ValueError):
            continue
        if t is not None and not math.isnan(value):
            out.append((t, value))
    return out


def sparkline(series: Any) -> list[dict[str, float]]:
    """Recharts data for a small trend line: [{'i': 0, 'v': 1.5}, ...]."""
    return [{"i": i, "v": round(v, 6)} for i, (_, v) in enumerate(points(series))]


def _metrics_by_service(payload: Any) -> dict[str, dict]:
    """Normalise GET /overview/metrics (a list, {'services': list} or {name: metrics}) to {name: metrics}."""
    if isinstance(payload, dict) and isinstance(payload.get("services"), (list, dict)):
        payload = payload["services"]
    if isinstance(payload, list):
        return {str(pick(m, "service", "name", default="")): m for m in payload if isinstance(m, dict)}
    if isinstance(payload, dict):
        return {str(k): v for k, v in payload.items() if isinstance(v, dict)}
    return {}


def _trend(metrics: dict, key: str) -> Any:
    trend = pick(metrics, "trend", "trends", default={})
    if isinstance(trend, dict) and key in trend:
        return trend[key]
    return pick(metrics, f"{key}_trend", default=[])


def active_rollout_label(value: Any) -> str:
    """A short label for a service's active rollout ('' when none)."""
    if not value:
        return ""
    if isinstance(value, dict):
        target = pick(value, "to_version", "canary_version", "target_version", "version", default="")
        state = pick(value, "state", "phase", default="")
        text = f"rollout → {target}" if target else "rollout"
        return f"{text} ({state})" if state else text
    return "rollout in progress"


def rollout_id_of(value: Any) -> str:
    """The id of an active rollout given as an object or a bare id."""
    if isinstance(value, dict):
        return str(pick(value, "id", "rollout_id", default=""))
    return str(value) if value else ""


def overview_rows(services: Any, metrics: Any) -> list[dict[str, Any]]:
    """One row per service for the overview table: versions, instances, RED now, trend lines, flags."""
    by_name = _metrics_by_service(metrics)
    rows = []
    for svc in services if isinstance(services, list) else []:
        name = str(pick(svc, "name", default="?"))
        m = by_name.get(name, {})
        versions = pick(svc, "versions", default=[]) or []
        version_labels = []
        instances = healthy = 0
        for v in versions:
            insts = pick(v, "instances", default=[]) or []
            instances += len(insts)
            healthy += sum(1 for i in insts if instance_health(pick(i, "health")) == "ok")
            weight = pick(v, "weight")
            label = str(pick(v, "version", default="?"))
            version_labels.append(f"{label} {weight}%" if is_number(weight) else label)
        rps, err, p95 = pick(m, "rps"), pick(m, "error_ratio", "errors"), pick(m, "p95", "p95_seconds")
        rollout = pick(svc, "active_rollout")
        rows.append({
            "name": name,
            "versions": ", ".join(version_labels) or DASH,
            "instances": f"{healthy}/{instances}",
            "instances_ok": instances > 0 and healthy == instances,
            "rps": fmt_rps(rps),
            "error_ratio": fmt_pct(err),
            "p95": fmt_ms(p95),
            "health": health_of(err, rps),
            "health_colour": HEALTH_COLOURS[health_of(err, rps)],
            "rps_trend": sparkline(_trend(m, "rps")),
            "error_trend": sparkline(_trend(m, "error_ratio")),
            "p95_trend": sparkline(_trend(m, "p95")),
            "rollout": active_rollout_label(rollout),
            "rollout_id": rollout_id_of(rollout),
            "incident": str(pick(svc, "open_incident", "incident", default="") or ""),
        })
    rows.sort(key=lambda r: r["name"])
    return rows


METRIC_KEYS = ("rps", "error_ratio", "p50", "p95", "p99")


def _series_by_version(payload: Any) -> dict[str, dict[str, list[tuple[float, float]]]]:
    """Normalise GET /services/{name}/metrics into {version: {metric: points}}.

    Accepted: ``{"versions": {v: {metric: series}}}``, ``{"versions": [{"version": v, metric: series}]}``,
    ``{"series": [{"version": v, "metric": m, "points": [...]}]}`` or ``{v: {metric: series}}``.
    """
    out: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(dict)
    if not isinstance(payload, dict):
        return {}
    versions = payload.get("versions")
    if isinstance(versions, list):
        versions = {str(pick(v, "version", default="?")): v for v in versions if isinstance(v, dict)}
    if isinstance(versions, dict):
        for version, metrics in versions.items():
            for key in METRIC_KEYS:
                if isinstance(metrics, dict) and key in metrics:
                    out[str(version)][key] = points(metrics[key])
        return dict(out)
    series = payload.get("series")
    if isinstance(series, list):
        for s in series:
            metric, version = pick(s, "metric", "name"), pick(s, "version")
            if metric in METRIC_KEYS and version is not None:
                out[str(version)][str(metric)] = points(s)
        return dict(out)
    for version, metrics in payload.items():
        if isinstance(metrics, dict) and any(k in metrics for k in METRIC_KEYS):
            for key in METRIC_KEYS:
                if key in metrics:
                    out[str(version)][key] = points(metrics[key])
    return dict(out)


def version_charts(payload: Any) -> dict[str, Any]:
    """Recharts data for the service page: one row per timestamp, one column per version (or quantile).

    Returns ``{"versions": [...], "colours": {...}, "rps": rows, "error_ratio": rows,
    "latency": rows}`` where latency columns are ``<version> p50|p95|p99`` in milliseconds.
    """
    by_version = _series_by_version(payload)
    versions = sorted(by_version)
    result: dict[str, Any] = {"versions": versions,
                              "colours": {v: VERSION_PALETTE[i % len(VERSION_PALETTE)]
                                          for i, v in enumerate(versions)}}
    for key, scale in (("rps", 1.0), ("error_ratio", 100.0)):
        table: dict[float, dict[str, Any]] = {}
        for v in versions:
            for t, value in by_version[v].get(key, []):
                table.setdefault(t, {"t": fmt_clock(t)})[v] = round(value * scale, 4)
        result[key] = [table[t] for t in sorted(table)]
    latency: dict[float, dict[str, Any]] = {}
    for v in versions:
        for q in ("p50", "p95", "p99"):
            for t, value in by_version[v].get(q, []):
                latency.setdefault(t, {"t": fmt_clock(t)})[f"{v} {q}"] = round(value * 1000, 2)
    result["latency"] = [latency[t] for t in sorted(latency)]
    result["times"] = sorted(set().union(*(
        {t for t, _ in by_version[v].get(k, [])} for v in versions for k in METRIC_KEYS))) if versions else []
    result["latency_keys"] = [f"{v} {q}" for v in versions for q in ("p50", "p95", "p99")]
    return result


def chart_lines(keys: list[str], colours: dict[str, str]) -> list[dict[str, str]]:
    """Line descriptions ({key, colour, dash}) for a chart; quantile lines share their version's colour."""
    lines = []
    for key in keys:
        version, _, q = key.partition(" ")
        dash = {"p50": "2 3", "p99": "6 3"}.get(q, "")
        lines.append({"key": key, "colour": colours.get(version, "#8b8d98"), "dash": dash})
    return lines


def instance_rows(service: Any) -> list[dict[str, Any]]:
    """Instances of a service across its versions for the service page table."""
    rows = []
    for v in pick(service, "versions", default=[]) or []:
        version = str(pick(v, "version", default="?"))
        for inst in pick(v, "instances", default=[]) or []:
            health = pick(inst, "health", default="unknown")
            rows.append({
                "id": str(pick(inst, "id", default="?")),
                "version": version,
                "port": str(pick(inst, "port", default=DASH)),
                "pid": str(pick(inst, "pid", default=DASH)),
                "health": str(health),
                "health_colour": HEALTH_COLOURS[instance_health(health)],
                "restarts": str(pick(inst, "restarts", default=0)),
                "started": fmt_clock(pick(inst, "started_at"), with_date=True),
            })
    return rows


def version_rows(service: Any) -> list[dict[str, Any]]:
    """The versions of a service with replicas and traffic weight, for the scale/weights controls."""
    rows = []
    for v in pick(service, "versions", default=[]) or []:
        weight = pick(v, "weight")
        rows.append({"version": str(pick(v, "version", default="?")),
                     "replicas": int(pick(v, "replicas", default=0) or 0),
                     "weight": int(weight) if is_number(weight) else 0,
                     "instances": len(pick(v, "instances", default=[]) or [])})
    return rows


def validate_weights(weights: dict[str, Any]) -> tuple[dict[str, int], str]:
    """Parse weight inputs; returns (weights, error) where error is '' when they are usable."""
    parsed: dict[str, int] = {}
    for version, raw in weights.items():
        try:
            value = int(str(raw).strip())
        except ValueError:
            return {}, f"weight for {version} must be a whole number"
        if not 0 <= value <= 100:
            return {}, f"weight for {version} must be between 0 and 100"
        parsed[version] = value
    if parsed and sum(parsed.values()) != 100:
        return {}, f"weights must add up to 100 (they add up to {sum(parsed.values())})"
    return parsed, ""


def weights_effect(service: str, weights: dict[str, int]) -> str:
    """The sentence a confirmation dialog shows before weights change."""
    parts = ", ".join(f"{pct}% to {v}" for v, pct in sorted(weights.items()))
    return f"Send {parts} of {service}'s traffic, effective immediately."


def scale_effect(service: str, version: str, current: int, replicas: int) -> str:
    """The sentence a confirmation dialog shows before a version is scaled."""
    if replicas == 0:
        return f"Stop every instance of {service} {version} ({current} running now)."
    verb = "Start" if replicas > current else "Stop"
    delta = abs(replicas - current)
    return (f"{verb} {delta} instance{'s' if delta != 1 else ''} of {service} {version}: "
            f"{current} → {replicas} replicas.")


# edge labels: font-size 10 text renders about 8 px a character and 14 px tall (measured on the
# browser screenshots), baseline at ly (anchor middle)
LABEL_CHAR_W, LABEL_H, LABEL_GAP = 8.0, 14.0, 2.0
# where along an edge a label may sit, best first: two thirds of the way, where edges fanning
# out of one caller have parted, then other points along it
_LABEL_FRACTIONS = (0.66, 0.5, 0.8, 0.4, 0.88, 0.3, 0.58, 0.74, 0.22)


def label_box(label: str, lx: float, ly: float) -> tuple[float, float, float, float]:
    """The (left, top, right, bottom) box of an edge label drawn centred on ``lx`` with baseline ``ly``."""
    half = len(label) * LABEL_CHAR_W / 2 + 2
    return (lx - half, ly - LABEL_H + 2, lx + half, ly + 2)


def boxes_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float],
                  gap: float = LABEL_GAP) -> bool:
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


def _place_label(label: str, p1: tuple[float, float], p2: tuple[float, float],
                 placed: list[tuple[float, float, float, float]]) -> tuple[int, int]:
    """The first point along the edge whose label box clears every label already placed.

    When no point on the edge is free, the label is moved off the edge vertically, in steps of a
    line, until it is. The chosen box is appended to ``placed``.
    """
    (x1, y1), (x2, y2) = p1, p2
    if not label:
        return round(x1 + (x2 - x1) * 0.66), round(y1 + (y2 - y1) * 0.66) - 5
    candidates = [(x1 + (x2 - x1) * f, y1 + (y2 - y1) * f - 5) for f in _LABEL_FRACTIONS]
    step = LABEL_H + LABEL_GAP
    for shift in range(1, 12):
        for sign in (-1, 1):
            candidates += [(cx, cy + sign * shift * step) for cx, cy in candidates[:len(_LABEL_FRACTIONS)]]
    for cx, cy in candidates:
        lx, ly = round(cx), round(cy)
        box = label_box(label, lx, ly)
        if not any(boxes_overlap(box, other) for other in placed):
            placed.append(box)
            return lx, ly
    lx, ly = round(candidates[0][0]), round(candidates[0][1])
    placed.append(label_box(label, lx, ly))
    return lx, ly


def graph_layout(payload: Any, metrics: Any = None, width: int = 760, height: int = 250,
                 window_s: float | None = None) -> dict[str, list]:
    """Positions for the service graph: services in columns by call depth, edges with rate and errors.

    With ``window_s`` (the span of the counts), call counts are shown as a rate.

    Returns ``{"nodes": [{id, x, y, colour, label}], "edges": [{x1, y1, x2, y2, label, colour, lx, ly}]}``.
    """
    raw_nodes = pick(payload, "nodes", default=[]) or []
    raw_edges = pick(payload, "edges", "links", default=[]) or []
    names: list[str] = []
    for n in raw_nodes:
        name = pick(n, "service", "id", "name") if isinstance(n, dict) else n
        if name is not None and str(name) not in names:
            names.append(str(name))
    edges = []
    for e in raw_edges:
        src, dst = pick(e, "source", "parent", "from", "caller"), pick(e, "target", "child", "to", "callee")
        if src is None or dst is None:
            continue
        src, dst = str(src), str(dst)
        for name in (src, dst):
            if name not in names:
                names.append(name)
        edges.append((src, dst, e))
    # depth = longest call chain from a caller-less service (cycles are cut by a visit bound)
    depth = {n: 0 for n in names}
    for _ in range(len(names)):
        changed = False
        for src, dst, _e in edges:
            if src != dst and depth[dst] < depth[src] + 1 and depth[src] + 1 < len(names):
                depth[dst] = depth[src] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = defaultdict(list)
    for n in sorted(names):
        columns[depth[n]].append(n)
    ncols = max(columns) + 1 if columns else 1
    pos = {}
    for col, members in columns.items():
        x = 60 + (width - 120) * (col / (ncols - 1) if ncols > 1 else 0.5)
        for row, n in enumerate(members):
            y = height * (row + 1) / (len(members) + 1)
            pos[n] = (round(x), round(y))
    by_name = _metrics_by_service(metrics)
    node_health = {}
    for n in raw_nodes:
        if isinstance(n, dict):
            name = str(pick(n, "service", "id", "name", default=""))
            err = pick(n, "error_ratio", "error_rate")
            total = pick(n, "requests", "calls", "count", "spans")
            if err is None and is_number(pick(n, "errors")) and is_number(total) and total:
                err = pick(n, "errors") / total
            node_health[name] = health_of(err)
    nodes = []
    for n in names:
        health = node_health.get(n, "unknown")
        if health == "unknown" and n in by_name:
            health = health_of(pick(by_name[n], "error_ratio", "errors"))
        x, y = pos[n]
        nodes.append({"id": n, "x": x, "y": y, "colour": HEALTH_COLOURS[health], "health": health,
                      "label_y": y + 26})
    out_edges = []
    # nodes (circle r=11) and their names are taken space too: a label must not sit on them
    placed: list[tuple[float, float, float, float]] = []
    for n in nodes:
        half = len(n["id"]) * 4.6 + 2
        placed += [(n["x"] - 13, n["y"] - 13, n["x"] + 13, n["y"] + 13),
                   (n["x"] - half, n["label_y"] - 14, n["x"] + half, n["label_y"] + 3)]
    for src, dst, e in edges:
        (x1, y1), (x2, y2) = pos[src], pos[dst]
        rate = pick(e, "rps", "rate", "call_rate")
        calls = pick(e, "calls", "count", "requests")
        if rate is None and is_number(calls) and window_s:
            rate = calls / window_s
        errors = pick(e, "errors", "error_count")
        err_ratio = pick(e, "error_ratio", "error_rate")
        if err_ratio is None and is_number(errors) and is_number(calls) and calls:
            err_ratio = errors / calls
        rate_text = fmt_rps(rate) if is_number(rate) else (f"{calls} calls" if is_number(calls) else "")
        # errors only when there are some: a fan of "0% err" labels hides the ones that matter
        err_text = f"{fmt_pct(err_ratio)} err" if is_number(err_ratio) and err_ratio > 0 else ""
        label = " · ".join(p for p in (rate_text, err_text) if p)
        lx, ly = _place_label(label, (x1, y1), (x2, y2), placed)
        out_edges.append({"x1": x1 + 12, "y1": y1, "x2": x2 - 12, "y2": y2, "lx": lx, "ly": ly,
                          "label": label,
                          "colour": HEALTH_COLOURS[health_of(err_ratio)] if is_number(err_ratio) else "#8b8d98"})
    return {"nodes": nodes, "edges": out_edges}
