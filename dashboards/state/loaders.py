"""What each page fetches from the API, as plain functions of (client, params) → shaped data.

They run in a worker thread (the client is synchronous). A failure of the page's main request
raises ``ApiError`` (the page then shows the banner and hides its numbers); a failure of a
secondary source (Prometheus, the collectors) becomes a warning and empty panels, never old data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from control_plane.client import ApiClient, ApiError
from dashboards.logic import admin, logs, rollouts, shaping, traces
from dashboards.logic.freshness import unreachable_message
from dashboards.logic.urls import WINDOW_SECONDS, step_for, window_or_default

API = "/api/v1"
# Enough rows to scan by eye; more only slows the browser (each row is a component to render).
TRACE_LIMIT = 100
LOG_LIMIT = 100


def _secondary(call: Callable[[], Any], what: str, warnings: list[str]) -> Any:
    """Run a secondary request; on failure note why (auth failures still end the page)."""
    try:
        return call()
    except ApiError as exc:
        if exc.status in (401, 403):
            raise
        warnings.append(f"{what}: {unreachable_message(exc.status, exc.code, str(exc))}")
        return None


def _health_warnings(client: ApiClient, warnings: list[str]) -> None:
    health = _secondary(lambda: client.get(f"{API}/health"), "health", warnings)
    if isinstance(health, dict):
        if health.get("prometheus") == "down":
            warnings.append("Prometheus cannot be reached: rates, errors and latencies are not shown")
        if health.get("collectors") == "down":
            warnings.append("The collectors cannot be reached: traces, logs and the service graph are not shown")


def service_names(client: ApiClient) -> list[str]:
    """Names of every service (for filter drop-downs)."""
    return sorted(str(s.get("name")) for s in client.get(f"{API}/services") or [] if isinstance(s, dict))


def load_overview(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """Fleet overview table: service rows with RED now and trends (the graph loads separately)."""
    warnings: list[str] = []
    services = client.get(f"{API}/services")
    _health_warnings(client, warnings)
    metrics = _secondary(lambda: client.get(f"{API}/overview/metrics"), "metrics", warnings)
    return {"rows": shaping.overview_rows(services, metrics or {}), "warnings": warnings}


def load_graph(client: ApiClient, params: dict[str, str], now: float | None = None) -> dict[str, Any]:
    """The service graph over the window; slower than the table (the collectors scan spans), so it
    refreshes on its own, less often, and a failure only empties the graph with a note."""
    window_s = WINDOW_SECONDS[window_or_default(params.get("window"))]
    since = int((time.time() if now is None else now) - window_s)
    warnings: list[str] = []
    graph = _secondary(lambda: client.get(f"{API}/service-graph", start=since), "service graph", warnings)
    layout = shaping.graph_layout(graph or {}, window_s=window_s)
    return {"graph_nodes": layout["nodes"], "graph_edges": layout["edges"],
            "graph_note": warnings[0] if warnings else ""}


def load_service(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """Service page: the service, RED per version over the window, operations and rollouts."""
    name = params["name"]
    window = window_or_default(params.get("window"))
    warnings: list[str] = []
    service = client.get(f"{API}/services/{quote(name, safe='')}")
    metrics = _secondary(lambda: client.get(f"{API}/services/{quote(name, safe='')}/metrics",
                                            range=window, step=step_for(window)), "metrics", warnings)
    charts = shaping.version_charts(metrics or {})
    ops = _secondary(lambda: client.get(f"{API}/telemetry/services/{quote(name, safe='')}/operations"),
                     "operations", warnings)
    ops_list = ops.get("items", ops.get("operations", [])) if isinstance(ops, dict) else (ops or [])
    operations = [str(o.get("name", o.get("operation", "?"))) if isinstance(o, dict) else str(o) for o in ops_list]
    recent: list[dict[str, Any]] = []
    if params.get("show_rollouts"):
        found = _secondary(lambda: client.get(f"{API}/rollouts", service=name), "rollouts", warnings)
        recent = [r for r in rollouts.rollout_rows(found or []) if r["service"] == name][:5]
    return {"service": service, "instances": shaping.instance_rows(service),
            "versions": shaping.version_rows(service),
            "rollout": shaping.active_rollout_label(service.get("active_rollout")),
            "rollout_id": shaping.rollout_id_of(service.get("active_rollout")),
            "rps": charts["rps"], "errors": charts["error_ratio"], "latency": charts["latency"],
            "lines": shaping.chart_lines(charts["versions"], charts["colours"]),
            "latency_lines": shaping.chart_lines(charts["latency_keys"], charts["colours"]),
            "operations": operations[:50], "rollouts": recent, "warnings": warnings}


def trace_search_params(params: dict[str, str], now: float | None = None) -> dict[str, Any]:
    """API query parameters for a trace search from the page's filters."""
    now = time.time() if now is None else now
    window = window_or_default(params.get("window"), "15m")
    out: dict[str, Any] = {"start": int(now - WINDOW_SECONDS[window]), "end": int(now), "limit": TRACE_LIMIT}
    for key in ("service", "operation", "status"):
        if params.get(key):
            out[key] = params[key]
    for key in ("min_duration_ms", "max_duration_ms"):
        value = params.get(key, "")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


def load_traces(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """Trace search: rows and scatter."""
    found = client.get(f"{API}/traces", **trace_search_params(params))
    rows = traces.trace_rows(found)
    return {"rows": rows, "scatter": traces.scatter_points(rows), "warnings": []}


def load_trace(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """One trace: waterfall, selected span details and the trace's logs."""
    trace_id = params["id"]
    warnings: list[str] = []
    payload = client.get(f"{API}/traces/{quote(trace_id, safe='')}")
    view = traces.waterfall(payload)
    span_id = params.get("span") or (view["rows"][0]["span_id"] if view["rows"] else "")
    found = _secondary(lambda: client.get(f"{API}/logs", trace_id=trace_id, limit=200), "logs", warnings)
    return {"payload": payload, "view": view, "span": traces.span_details(payload, span_id),
            "logs": list(reversed(logs.log_rows(found or []))), "warnings": warnings}


def log_search_params(params: dict[str, str], now: float | None = None, since: float | None = None) -> dict[str, Any]:
    """API query parameters for a log search (``since`` narrows to lines after the last one seen)."""
    now = time.time() if now is None else now
    window = window_or_default(params.get("window"), "15m")
    out: dict[str, Any] = {"start": since if since else int(now - WINDOW_SECONDS[window]),
                           "limit": LOG_LIMIT}
    for key in ("service", "severity", "q", "trace_id"):
        if params.get(key):
            out[key] = params[key]
    return out


def load_logs(client: ApiClient, params: dict[str, str], since: float | None = None) -> dict[str, Any]:
    """Log search (or the next slice of the live tail when ``since`` is given)."""
    found = client.get(f"{API}/logs", **log_search_params(params, since=since))
    return {"rows": logs.log_rows(found), "warnings": []}


def load_rollouts(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """Rollout list (and the services for the start form)."""
    found = client.get(f"{API}/rollouts")
    return {"rows": rollouts.rollout_rows(found), "services": service_names(client), "warnings": []}


def _canary_charts(client: ApiClient, rollout: dict, warnings: list[str]) -> dict[str, Any]:
    service = str(rollout.get("service", ""))
    if not service:
        return {"errors": [], "latency": [], "lines": [], "latency_lines": [], "times": []}
    metrics = _secondary(lambda: client.get(f"{API}/services/{quote(service, safe='')}/metrics",
                                            range="15m", step="15s"), "metrics", warnings)
    charts = shaping.version_charts(metrics or {})
    p95_keys = [k for k in charts["latency_keys"] if k.endswith("p95")]
    return {"errors": charts["error_ratio"], "latency": charts["latency"],
            "lines": shaping.chart_lines(charts["versions"], charts["colours"]),
            "latency_lines": shaping.chart_lines(p95_keys, charts["colours"]), "times": charts["times"]}


def load_rollout(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """One rollout: steps, history with evidence, canary-vs-stable charts, verdict markers."""
    rid = params["id"]
    warnings: list[str] = []
    rollout = client.get(f"{API}/rollouts/{quote(rid, safe='')}")
    row = rollouts.rollout_rows([rollout])[0]
    charts = _canary_charts(client, rollout, warnings)
    return {"rollout": row, "steps": rollouts.step_rows(rollout), "history": rollouts.history_rows(rollout),
            "why": rollouts.why_label(rollout), "markers": rollouts.verdict_markers(rollout, charts.pop("times")),
            "phase": row["phase"], **charts, "warnings": warnings}


def load_audit(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """Audit trail (admin)."""
    query = {k: params[k] for k in ("actor", "action") if params.get(k)}
    return {"rows": admin.audit_rows(client.get(f"{API}/audit", limit=300, **query)), "warnings": []}


def load_tokens(client: ApiClient, params: dict[str, str]) -> dict[str, Any]:
    """API tokens (admin)."""
    return {"rows": admin.token_rows(client.get(f"{API}/tokens")), "warnings": []}
