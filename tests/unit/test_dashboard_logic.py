"""Page logic of the dashboard: formatting, roles, freshness, chart shaping (no Reflex, no I/O)."""

from __future__ import annotations

import pytest

from dashboards.logic import admin, formatting, logs, rollouts, shaping, traces, urls
from dashboards.logic.freshness import Freshness, freshness, unreachable_message
from dashboards.logic.roles import Action, can, nav_items, permissions


# --- formatting -----------------------------------------------------------------------------------
@pytest.mark.parametrize("value,text", [(None, "—"), (0, "0/s"), (0.421, "0.42/s"), (12.34, "12.3/s"),
                                        (1500, "1.5k/s"), (float("nan"), "—"), (True, "—")])
def test_fmt_rps(value, text):
    assert formatting.fmt_rps(value) == text


@pytest.mark.parametrize("ratio,text", [(0, "0%"), (0.0005, "0.05%"), (0.021, "2.1%"), (0.45, "45%"), ("x", "—")])
def test_fmt_pct(ratio, text):
    assert formatting.fmt_pct(ratio) == text


@pytest.mark.parametrize("seconds,text", [(0.00085, "850µs"), (0.0042, "4.2ms"), (0.012, "12ms"), (1.25, "1.25s")])
def test_fmt_ms(seconds, text):
    assert formatting.fmt_ms(seconds) == text


def test_parse_time_accepts_rfc3339_and_every_epoch_unit():
    base = 1_790_000_000.0
    assert formatting.parse_time(base) == base
    assert formatting.parse_time(base * 1e3) == pytest.approx(base)
    assert formatting.parse_time(base * 1e9) == pytest.approx(base)
    assert formatting.parse_time("2026-11-27T04:00:00.123456Z") == pytest.approx(1795752000.123456)
    assert formatting.parse_time("garbage") is None
    assert formatting.fmt_clock("2026-11-27T04:00:01Z") == "04:00:01"


def test_fmt_ago():
    assert [formatting.fmt_ago(s) for s in (5, 250, 900, 7300, 200000)] == ["5s", "4m 10s", "15m", "2h 1m", "2d"]


# --- roles ----------------------------------------------------------------------------------------
def test_each_role_gets_exactly_its_controls():
    assert not any(permissions("viewer").values())
    deployer = permissions("deployer")
    assert deployer["control_rollout"] and deployer["start_rollout"] and not deployer["scale"]
    operator = permissions("operator")
    assert operator["scale"] and operator["restart"] and operator["set_weights"] and not operator["view_audit"]
    assert all(permissions("admin").values())


def test_unknown_role_may_do_nothing():
    assert not can("root", Action.SCALE)
    assert not can("", Action.VIEW_ROLLOUTS)
    assert [i["route"] for i in nav_items("")] == ["/", "/traces", "/logs"]


def test_nav_follows_role():
    assert [i["label"] for i in nav_items("viewer")] == ["Overview", "Traces", "Logs"]
    assert [i["label"] for i in nav_items("admin")] == ["Overview", "Traces", "Logs", "Rollouts", "Audit", "Tokens"]


# --- freshness ------------------------------------------------------------------------------------
def test_freshness_states():
    assert freshness(None, "", 100.0, 3).state is Freshness.LOADING
    fresh = freshness(100.0, "", 103.0, 3)
    assert fresh.state is Freshness.FRESH and fresh.banner == ""
    stale = freshness(100.0, "", 130.0, 3)
    assert stale.state is Freshness.STALE and "30s" in stale.banner
    down = freshness(100.0, "The Fleetdeck API cannot be reached", 160.0, 3)
    assert down.state is Freshness.DOWN
    assert "cannot be reached" in down.banner and "1m 0s ago" in down.banner and "hidden" in down.banner


def test_unreachable_message_is_plain():
    assert unreachable_message(0, "unreachable", "x") == "The Fleetdeck API cannot be reached"
    assert unreachable_message(0, "unreachable", "cannot reach …: timed out") == \
        "The Fleetdeck API did not answer in time"
    assert "unavailable" in unreachable_message(503, "collectors_unavailable", "the collectors are down")
    assert unreachable_message(404, "not_found", "unknown service 'x'").startswith("The API answered 404")


# --- overview and service shaping -----------------------------------------------------------------
SERVICES = [
    {"name": "cart", "listener_port": 8101, "active_rollout": {"id": "r1", "to_version": "v2",
                                                                 "state": "progressing"},
     "versions": [{"version": "v1", "replicas": 2, "weight": 90,
                   "instances": [{"id": "cart-v1-1", "health": "ready", "restarts": 0, "port": 9001, "pid": 11,
                                  "started_at": "2026-11-27T04:00:00Z"},
                                 {"id": "cart-v1-2", "health": "crashed", "restarts": 3, "port": 9002, "pid": None,
                                  "started_at": None}]},
                  {"version": "v2", "replicas": 1, "weight": 10,
                   "instances": [{"id": "cart-v2-1", "health": "ready", "restarts": 0}]}]},
    {"name": "catalog", "versions": [], "active_rollout": None},
]
OVERVIEW = {"services": [
    {"service": "cart", "rps": 12.5, "error_ratio": 0.06, "p95": 0.120,
     "trend": {"rps": [[1, 10.0], [2, 12.5]], "error_ratio": [[1, 0.0], [2, 0.06]], "p95": [[1, 0.1], [2, 0.12]]}},
    {"service": "catalog", "rps": None, "error_ratio": None, "p95": None,
     "trend": {"rps": [], "error_ratio": [], "p95": []}}]}


def test_overview_rows():
    cart, catalog = shaping.overview_rows(SERVICES, OVERVIEW)
    assert cart["name"] == "cart" and cart["versions"] == "v1 90%, v2 10%"
    assert cart["instances"] == "2/3" and not cart["instances_ok"]
    assert (cart["rps"], cart["error_ratio"], cart["p95"]) == ("12.5/s", "6.0%", "120ms")
    assert cart["health"] == "bad"
    assert cart["rps_trend"] == [{"i": 0, "v": 10.0}, {"i": 1, "v": 12.5}]
    assert cart["rollout"] == "rollout → v2 (progressing)" and cart["rollout_id"] == "r1"
    # no data is shown as no data, never as zero
    assert (catalog["rps"], catalog["health"], catalog["versions"]) == ("—", "unknown", "—")


def test_overview_accepts_metrics_keyed_by_name():
    rows = shaping.overview_rows(SERVICES, {"cart": {"rps": 1.0, "error_ratio": 0.0}})
    assert rows[0]["rps"] == "1.00/s" and rows[0]["health"] == "ok"


def test_version_charts_merge_versions_by_timestamp():
    payload = {"versions": {"v1": {"rps": [[100, 5.0], [115, 6.0]], "error_ratio": [[100, 0.01]],
                                   "p50": [[100, 0.01]], "p95": [[100, 0.05]], "p99": [[100, 0.2]]},
                            "v2": {"rps": [[115, 1.0]], "error_ratio": [], "p50": [], "p95": [], "p99": []}}}
    charts = shaping.version_charts(payload)
    assert charts["versions"] == ["v1", "v2"]
    assert [set(r) for r in charts["rps"]] == [{"t", "v1"}, {"t", "v1", "v2"}]
    assert charts["error_ratio"][0]["v1"] == 1.0  # percent
    assert charts["latency"][0] == {"t": formatting.fmt_clock(100), "v1 p50": 10.0, "v1 p95": 50.0,
                                    "v1 p99": 200.0}
    lines = shaping.chart_lines(charts["latency_keys"], charts["colours"])
    assert lines[0]["colour"] == lines[1]["colour"] and lines[0]["dash"] != lines[1]["dash"]


def test_version_charts_accept_series_list():
    payload = {"series": [{"version": "v1", "metric": "rps", "points": [{"t": 1, "v": 2}]}]}
    assert shaping.version_charts(payload)["rps"] == [{"t": formatting.fmt_clock(1), "v1": 2.0}]


def test_instances_and_versions():
    service = SERVICES[0]
    rows = shaping.instance_rows(service)
    assert [r["id"] for r in rows] == ["cart-v1-1", "cart-v1-2", "cart-v2-1"]
    assert rows[1]["health_colour"] == shaping.HEALTH_COLOURS["bad"] and rows[1]["pid"] == "—"
    assert shaping.version_rows(service)[0] == {"version": "v1", "replicas": 2, "weight": 90, "instances": 2}


@pytest.mark.parametrize("raw,error", [({"v1": "90", "v2": "10"}, ""), ({"v1": "90", "v2": "20"}, "add up to 100"),
                                       ({"v1": "x"}, "whole number"), ({"v1": "120", "v2": "-20"}, "between 0")])
def test_validate_weights(raw, error):
    weights, message = shaping.validate_weights(raw)
    assert (message == "") if not error else (error in message and weights == {})


def test_confirmation_sentences_name_the_effect():
    assert shaping.weights_effect("cart", {"v2": 10, "v1": 90}) == \
        "Send 90% to v1, 10% to v2 of cart's traffic, effective immediately."
    assert shaping.scale_effect("cart", "v2", 1, 3) == "Start 2 instances of cart v2: 1 → 3 replicas."
    assert shaping.scale_effect("cart", "v2", 3, 0) == "Stop every instance of cart v2 (3 running now)."


def test_graph_layout_columns_by_call_depth_and_colours_by_health():
    graph = {"nodes": [{"service": "frontend", "spans": 100, "errors": 0},
                       {"service": "cart", "spans": 50, "errors": 10}, {"service": "catalog", "spans": 10,
                                                                          "errors": 0}],
             "edges": [{"source": "frontend", "target": "cart", "requests": 50, "errors": 10},
                       {"source": "cart", "target": "catalog", "requests": 10, "errors": 0}]}
    layout = shaping.graph_layout(graph)
    nodes = {n["id"]: n for n in layout["nodes"]}
    assert nodes["frontend"]["x"] < nodes["cart"]["x"] < nodes["catalog"]["x"]
    assert nodes["cart"]["colour"] == shaping.HEALTH_COLOURS["bad"]
    assert nodes["frontend"]["colour"] == shaping.HEALTH_COLOURS["ok"]
    assert layout["edges"][0]["label"] == "50 calls · 20% err"
    assert layout["edges"][1]["label"] == "10 calls"  # no error text when there are no errors


def test_graph_layout_survives_cycles_and_empty_input():
    cyclic = {"edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]}
    assert len(shaping.graph_layout(cyclic)["nodes"]) == 2
    assert shaping.graph_layout({}) == {"nodes": [], "edges": []}


# --- traces -------------------------------------------------------------------------------------
MS = 1_000_000
T0 = 1_790_000_000 * 10**9
TRACE = {"trace_id": "abc", "spans": [
    {"span_id": "root", "parent_span_id": None, "name": "GET /checkout", "service": "frontend",
     "start_ns": T0, "end_ns": T0 + 100 * MS, "status": {"code": "ok", "message": ""},
     "attributes": {"http.route": "/checkout"}, "events": [{"name": "retry", "time_ns": T0 + 5 * MS,
                                                              "attributes": {"n": 1}}]},
    {"span_id": "a", "parent_span_id": "root", "name": "cart", "service": "cart",
     "start_ns": T0 + 10 * MS, "end_ns": T0 + 40 * MS, "status": {"code": "ok"}},
    {"span_id": "b", "parent_span_id": "root", "name": "pay", "service": "payment",
     "start_ns": T0 + 20 * MS, "end_ns": T0 + 90 * MS, "status": {"code": "error", "message": "declined"}},
    {"span_id": "b1", "parent_span_id": "b", "name": "db", "service": "payment",
     "start_ns": T0 + 30 * MS, "end_ns": T0 + 50 * MS, "status": {"code": "ok"}},
]}


def test_critical_path_follows_the_last_finishing_children():
    # b finishes last; a overlaps the time before b starts (so its head is on the path, as in Jaeger)
    assert traces.critical_path(TRACE["spans"]) == {"root", "b", "b1", "a"}
    # a child running entirely while its later-finishing sibling runs is not on the path
    hidden = {"span_id": "c", "parent_span_id": "root", "name": "x", "service": "cart",
              "start_ns": T0 + 25 * MS, "end_ns": T0 + 35 * MS}
    assert "c" not in traces.critical_path(TRACE["spans"] + [hidden])


def test_waterfall_rows_offsets_and_colours():
    view = traces.waterfall(TRACE)
    assert [r["span_id"] for r in view["rows"]] == ["root", "a", "b", "b1"]
    assert [r["depth"] for r in view["rows"]] == [0, 1, 1, 2]
    b = view["rows"][2]
    assert b["left"] == "20.000%" and b["width"] == "70.000%" and b["error"] and b["duration"] == "70ms"
    assert view["duration"] == "100ms" and view["errors"] == 1 and view["span_count"] == 4
    assert view["rows"][3]["colour"] == traces.service_colour("payment") == b["colour"]


def test_waterfall_prefers_the_collectors_critical_path():
    view = traces.waterfall({**TRACE, "critical_path": ["root", "a"]})
    assert [r["span_id"] for r in view["rows"] if r["critical"]] == ["root", "a"]


def test_span_details():
    details = traces.span_details(TRACE, "root")
    assert details["status"] == "ok" and details["attributes"] == [{"key": "http.route", "value": "/checkout"}]
    assert details["events"] == [{"name": "retry", "at": "5.0ms", "attributes": "n=1"}]
    assert traces.span_details(TRACE, "b")["status_message"] == "declined"
    assert traces.span_details(TRACE, "nope") == {}


def test_trace_rows_and_scatter():
    payload = {"items": [
        {"trace_id": "t1", "root_service": "frontend", "root_operation": "GET /", "start_ns": T0,
         "duration_ms": 12.0, "span_count": 4, "error_count": 0},
        {"trace_id": "t2", "root_service": "frontend", "root_operation": "GET /", "start_ns": T0 + 2 * 10**9,
         "duration_ms": 250.0, "span_count": 9, "error_count": 2}], "next_cursor": None}
    rows = traces.trace_rows(payload)
    assert [r["trace_id"] for r in rows] == ["t2", "t1"] and rows[0]["status"] == "error"
    scatter = traces.scatter_points(rows)
    assert scatter["ok"] == [{"x": 0.0, "y": 12.0, "trace_id": "t1"}]
    assert scatter["error"] == [{"x": 2.0, "y": 250.0, "trace_id": "t2"}]


# --- logs ---------------------------------------------------------------------------------------
def test_log_rows_and_severities():
    payload = {"items": [{"id": 1, "time_ns": T0, "severity": "INFO", "body": "ok", "service": "cart",
                          "trace_id": "abc"},
                         {"id": 2, "time_ns": T0 + 10**9, "severity": "WARNING", "body": "slow", "service": "cart",
                          "trace_id": None}]}
    rows = logs.log_rows(payload)
    assert [r["severity"] for r in rows] == ["warn", "info"]
    assert rows[1]["trace_href"] == "/trace?id=abc" and rows[0]["trace_href"] == ""
    assert logs.severity_of(17) == "error" and logs.severity_of("FATAL") == "fatal"


def test_merge_tail_dedups_and_bounds():
    old = [{"key": "1", "epoch": 1.0}]
    new = [{"key": "1", "epoch": 1.0}, {"key": "2", "epoch": 2.0}, {"key": "3", "epoch": 3.0}]
    assert [r["key"] for r in logs.merge_tail(old, new, limit=2)] == ["3", "2"]


# --- rollouts -----------------------------------------------------------------------------------
ROLLOUT = {"id": "r1", "service": "cart", "version": "v2", "stable_version": "v1", "phase": "rolled_back",
           "step": {"index": 1, "of": 3, "started_at": 1795752000.0},
           "spec": {"steps": [{"setWeight": 10}, {"analysis": {"duration": "60s"}}, {"pause": {}}]},
           "reason": "analysis failed: canary error ratio above stable's", "created_at": 1795752000.0,
           "history": [
               {"seq": 1, "at": 1795752000.0, "kind": "transition", "phase": "pending", "reason": "created by ci",
                "data": {"actor": "token:ci"}},
               {"seq": 2, "at": 1795752010.0, "kind": "verdict", "phase": "progressing", "reason": "",
                "data": {"verdict": {"outcome": "continue", "reason": "need more requests"}}},
               {"seq": 3, "at": 1795752020.0, "kind": "verdict", "phase": "progressing", "reason": "",
                "data": {"verdict": {"outcome": "continue", "reason": "need more requests"}}},
               {"seq": 4, "at": 1795752060.0, "kind": "verdict", "phase": "rolling_back",
                "reason": "errors: canary worse",
                "data": {"verdict": {"outcome": "fail", "reason": "errors: canary worse", "checks": [
                    {"name": "errors", "outcome": "fail", "canary": {"requests": 200, "events": 40, "ratio": 0.2},
                     "stable": {"requests": 2000, "events": 2, "ratio": 0.001}, "e_value": 812.5,
                     "threshold": 100.0}], "step_canary_requests": 200, "min_canary_requests": 200}}},
               {"seq": 5, "at": 1795752061.0, "kind": "transition", "phase": "rolled_back",
                "reason": "analysis failed: canary error ratio above stable's"}]}


def test_rollout_rows_steps_and_history():
    row = rollouts.rollout_rows([ROLLOUT])[0]
    assert (row["change"], row["phase"], row["step"], row["colour"]) == ("v1 → v2", "rolled_back", "2/3", "red")
    assert [(s["label"], s["where"]) for s in rollouts.step_rows(ROLLOUT)] == \
        [("10%", "done"), ("analysis 60s", "failed"), ("hold for promote", "todo")]
    history = rollouts.history_rows(ROLLOUT)
    # only the latest "continue" verdict is kept
    assert [h["what"] for h in history] == ["transition → pending", "analysis: continue", "analysis: fail",
                                            "transition → rolled_back"]
    assert history[0]["actor"] == "token:ci"
    assert history[2]["evidence"].startswith("errors fail: canary 40/200 (20%) vs stable 2/2000 (0.1%), e=812.5")
    assert rollouts.why_label(ROLLOUT) == "rolled back: analysis failed: canary error ratio above stable's"
    assert rollouts.verdict_markers(ROLLOUT) == [{"t": formatting.fmt_clock(1795752060.0), "verdict": "fail",
                                                  "colour": "red"}]
    # snapped onto the chart's own x labels, or the marker would not be drawn
    assert rollouts.verdict_markers(ROLLOUT, [1795752030.0, 1795752070.0])[0]["t"] == \
        formatting.fmt_clock(1795752070.0)
    promoted = {**ROLLOUT, "phase": "promoted", "reason": "promoted: v2 serves all traffic"}
    assert rollouts.why_label(promoted) == "promoted: v2 serves all traffic"  # no "promoted: promoted:"


def test_commands_per_phase_and_role():
    assert [c["command"] for c in rollouts.commands_for(rollouts.Phase.PROGRESSING, True)] == \
        ["promote", "promote-full", "pause", "abort"]
    assert rollouts.commands_for(rollouts.Phase.PROGRESSING, False) == []
    assert rollouts.commands_for(rollouts.phase_of("Promoted"), True) == []
    assert rollouts.phase_of("rolled-back") is rollouts.Phase.ROLLED_BACK


@pytest.mark.parametrize("args,error", [
    (("cart", "v2", "10,50", "30"), ""), (("", "v2", "10", "1"), "service"), (("cart", "", "10", "1"), "version"),
    (("cart", "v2", "50,10", "1"), "increasing"), (("cart", "v2", "10,10", "1"), "increasing"),
    (("cart", "v2", "a", "1"), "whole-number"), (("cart", "v2", "10", "-1"), "negative")])
def test_start_request_validation(args, error):
    body, message = rollouts.start_request(*args)
    if error:
        assert error in message and body == {}
    else:
        assert message == "" and body["steps"] == [{"setWeight": 10}, {"analysis": {"duration": "30s"}},
                                                   {"setWeight": 50}, {"analysis": {"duration": "30s"}}]


def test_start_request_can_hold_for_a_manual_promote():
    body, _ = rollouts.start_request("cart", "v2", "10", "0", hold=True)
    assert body["steps"] == [{"setWeight": 10}, {"pause": {}}]


# --- admin and urls -----------------------------------------------------------------------------
def test_audit_and_token_rows():
    audit = admin.audit_rows({"items": [{"at": "2026-11-27T04:00:00Z", "actor": "alice", "action": "weights.set",
                                         "path": "/api/v1/services/cart/weights", "target": "cart",
                                         "outcome": "allowed", "status_code": 200, "detail": None}]})
    assert audit[0]["actor"] == "alice" and audit[0]["outcome"] == "allowed 200"
    toks = admin.token_rows({"items": [{"id": "t1", "name": "ci", "role": "deployer", "owner": "admin",
                                        "created_at": "2026-11-27T04:00:00Z", "expires_at": None}]})
    assert toks[0]["expires"] == "—" and "token" not in toks[0]
    assert admin.token_request("", "viewer")[1] and admin.token_request("ci", "root")[1]
    assert admin.token_request("ci", "deployer") == ({"name": "ci", "role": "deployer"}, "")


def test_urls():
    assert urls.with_query("/traces", {"service": "cart", "status": "", "window": "15m"}) == \
        "/traces?service=cart&window=15m"
    assert urls.safe_next("//evil.example") == "/" and urls.safe_next("/service?name=cart") == "/service?name=cart"
    assert urls.window_or_default("99y") == "15m" and urls.step_for("24h") == "1080s"


def test_graph_edge_labels_never_overlap_on_the_fleets_graph():
    calls = {"frontend": ["catalog", "cart", "checkout", "recommendation", "orders"],
             "checkout": ["cart", "catalog", "payment", "shipping", "orders"],
             "recommendation": ["catalog"]}
    rates = iter([1.98, 2.18, 0.61, 1.2, 0.33, 0.6, 0.58, 0.57, 0.59, 0.6, 2.4])
    graph = {"nodes": ["fleetdeck-control-plane"],
             "edges": [{"source": s, "target": t, "rps": next(rates), "error_ratio": 0.012}
                                    for s, targets in calls.items() for t in targets]}
    for g in (graph, {**graph, "edges": [{**e, "error_ratio": 0} for e in graph["edges"]]}):
        layout = shaping.graph_layout(g)
        edges = layout["edges"]
        assert len(edges) == 11 and all(e["label"] for e in edges)
        boxes = [shaping.label_box(e["label"], e["lx"], e["ly"]) for e in edges]
        for n in layout["nodes"]:  # nor on a node's circle
            assert not any(shaping.boxes_overlap(b, (n["x"] - 11, n["y"] - 11, n["x"] + 11, n["y"] + 11), 0)
                           for b in boxes), n["id"]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not shaping.boxes_overlap(a, b), (a, b)


def test_verdict_markers_at_the_same_time_merge_into_the_decisive_one():
    def verdict(seq, at, outcome):
        return {"seq": seq, "at": at, "kind": "verdict", "phase": "progressing", "reason": "",
                "data": {"verdict": {"outcome": outcome, "reason": ""}}}
    rollout = {**ROLLOUT, "history": [verdict(1, 1795752000.0, "inconclusive"), verdict(2, 1795752050.0, "pass"),
                                      verdict(3, 1795752058.0, "inconclusive"), verdict(4, 1795752059.0, "fail"),
                                      verdict(5, 1795752060.0, "inconclusive")]}
    times = [1795752000.0, 1795752060.0]
    markers = rollouts.verdict_markers(rollout, times)
    assert [(m["t"], m["verdict"]) for m in markers] == [(formatting.fmt_clock(1795752000.0), "inconclusive"),
                                                         (formatting.fmt_clock(1795752060.0), "fail")]
    assert markers[1]["colour"] == "red"
    only_pass = {**rollout, "history": [verdict(1, 1795752059.0, "inconclusive"), verdict(2, 1795752060.0, "pass")]}
    assert [m["verdict"] for m in rollouts.verdict_markers(only_pass, times)] == ["pass"]
