"""`fleetdeck rollout ...`: start (optionally waiting for the outcome), status, list, controls.

``start --wait`` prints progress (phase, step, weight, last verdict) whenever it changes and exits
0 when promoted, 1 when rolled back, 3 when the machinery failed, 4 when ``--timeout`` passed,
printing the reason and the evidence of the deciding verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from control_plane.cli.connect import make_client
from control_plane.client import ApiClient
from control_plane.errors import ValidationError
from control_plane.settings import load_settings

EXIT = {"promoted": 0, "rolled_back": 1, "failed": 3}
TIMED_OUT = 4


def _client(environ: Mapping[str, str] | None = None) -> ApiClient:
    return make_client(load_settings(environ), environ)


def _load_spec(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValidationError(f"{path} is not valid YAML: {exc}", field="spec") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationError(f"{path} must hold a mapping (service, version, steps, ...)", field="spec")
    return raw


def progress_line(r: dict[str, Any]) -> str:
    """One line of progress: phase, step, weight and the last verdict."""
    step = r.get("step") or {}
    verdict = r.get("last_verdict") or "-"
    return (f"{r['id']} {r['service']} {r.get('stable_version')}->{r['version']}: {r['phase']} "
            f"step {step.get('index', 0) + 1}/{step.get('of', 0)} weight {r.get('canary_weight', 0)}% "
            f"verdict {verdict} — {r.get('reason', '')}")


def evidence_lines(verdict: dict[str, Any] | None) -> list[str]:
    """The deciding verdict, for a person reading CI logs."""
    if not verdict:
        return []
    lines = [f"verdict: {verdict.get('outcome')} — {verdict.get('reason')}"]
    window = verdict.get("window") or {}
    if window.get("start") is not None:
        lines.append(f"window: {window['start']:.0f} .. {window.get('end') or 0:.0f} (unix s)")
    for c in verdict.get("checks", []):
        can, st = c.get("canary", {}), c.get("stable", {})
        lines.append(f"  {c['name']}: {c['outcome']}; canary {can.get('events')}/{can.get('requests')} "
                     f"vs stable {st.get('events')}/{st.get('requests')}; e-value {c.get('e_value')} "
                     f"(threshold {c.get('threshold')}, margin {c.get('margin')})"
                     + (f"; slow = above {c['edge_s']}s" if c.get("edge_s") else ""))
    for q in verdict.get("queries", []):
        lines.append(f"  query: {q}")
    return lines


def deciding_verdict(r: dict[str, Any]) -> dict[str, Any] | None:
    """The verdict attached to the transition that ended the rollout (else the latest evidence)."""
    for e in reversed(r.get("history", [])):
        data = e.get("data") or {}
        if "verdict" in data and e.get("phase") in ("rolling_back", "rolled_back", "promoting", "promoted"):
            return data["verdict"]  # type: ignore[no-any-return]
    return r.get("evidence")  # type: ignore[no-any-return]


def wait(client: ApiClient, rid: str, *, timeout_s: float, out: Callable[[str], None] = print,
         poll_s: float = 2.0, clock: Callable[[], float] = time.monotonic,
         sleep: Callable[[float], None] = time.sleep) -> int:
    """Follow a rollout until it ends; the exit code says how."""
    deadline = clock() + timeout_s
    last = ""
    while True:
        r = client.get(f"/api/v1/rollouts/{rid}")
        line = progress_line(r)
        if line != last:
            out(line)
            last = line
        if r["phase"] in EXIT:
            out(f"{r['phase']}: {r['reason']}")
            if r["phase"] != "promoted":
                for e in evidence_lines(deciding_verdict(r)):
                    out(e)
            return EXIT[r["phase"]]
        if clock() >= deadline:
            out(f"timed out after {timeout_s:g}s; the rollout carries on: fleetdeck rollout status {rid}")
            return TIMED_OUT
        sleep(poll_s)


def cmd_start(args: argparse.Namespace) -> int:
    spec = _load_spec(args.file)
    spec["service"], spec["version"] = args.service, args.version
    client = _client()
    key = args.idempotency_key or str(uuid.uuid4())
    r = client.request("POST", "/api/v1/rollouts", json=spec, headers={"Idempotency-Key": key})
    if args.json and not args.wait:
        print(json.dumps(r, indent=2))
        return 0
    print(f"started {r['id']}: {r['service']} {r.get('stable_version')} -> {r['version']}")
    if not args.wait:
        return 0
    return wait(client, r["id"], timeout_s=args.timeout)


def cmd_status(args: argparse.Namespace) -> int:
    r = _client().get(f"/api/v1/rollouts/{args.id}")
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(progress_line(r))
    for e in r.get("history", [])[-args.history:]:
        print(f"  #{e['seq']} {time.strftime('%H:%M:%S', time.localtime(e['at']))} {e['phase']}: {e['reason']}")
    for line in evidence_lines(r.get("evidence")):
        print(line)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    rows = _client().get("/api/v1/rollouts", service=args.service, limit=args.limit)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        print(progress_line(r))
    return 0


def _control(name: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        client = _client()
        path = name
        if name == "promote" and getattr(args, "full", False):
            path = "promote-full"
        body: dict[str, Any] = {"reason": getattr(args, "reason", "") or ""}
        if name == "promote" and not getattr(args, "full", False):
            # Name the step we saw: two people promoting at once move it forward once.
            body["step"] = client.get(f"/api/v1/rollouts/{args.id}")["step"]["index"]
        r = client.request("POST", f"/api/v1/rollouts/{args.id}/{path}", json=body)
        print(json.dumps(r, indent=2) if args.json else progress_line(r))
        return 0

    return handler


def cmd_wait(args: argparse.Namespace) -> int:
    return wait(_client(), args.id, timeout_s=args.timeout)


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("rollout", help="canary rollouts: start, watch, promote, abort")
    sub = p.add_subparsers(dest="rollout_command", metavar="ACTION")

    s = sub.add_parser("start", help="start a rollout of SERVICE to VERSION")
    s.add_argument("service")
    s.add_argument("version")
    s.add_argument("-f", "--file", help="YAML spec (steps, analysis, webhooks, ...); '-' reads stdin")
    s.add_argument("--wait", action="store_true", help="follow it; exit 0 promoted, 1 rolled back, 3 failed")
    s.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits (exit 4 after)")
    s.add_argument("--idempotency-key", help="reuse across retries of the same CI job (default: random)")
    s.set_defaults(func=cmd_start)

    st = sub.add_parser("status", help="a rollout, its recent history and its latest evidence")
    st.add_argument("id")
    st.add_argument("--history", type=int, default=15, help="how many history entries to show")
    st.set_defaults(func=cmd_status)

    ls = sub.add_parser("list", help="rollouts, newest first")
    ls.add_argument("--service")
    ls.add_argument("--limit", type=int, default=20)
    ls.set_defaults(func=cmd_list)

    w = sub.add_parser("wait", help="follow a rollout until it ends (same exit codes as start --wait)")
    w.add_argument("id")
    w.add_argument("--timeout", type=float, default=3600.0)
    w.set_defaults(func=cmd_wait)

    for name, help_text in (("promote", "finish the current step now (--full: skip the remaining steps)"),
                            ("pause", "pause the steps (a failing canary is still rolled back)"),
                            ("resume", "resume a paused rollout"), ("abort", "roll back now"),
                            ("retry", "start a rolled-back or failed rollout again from the first step")):
        c = sub.add_parser(name, help=help_text)
        c.add_argument("id")
        c.add_argument("--reason", default="", required=name == "abort", help="recorded in the history and audit")
        if name == "promote":
            c.add_argument("--full", action="store_true", help="skip the remaining steps")
        c.set_defaults(func=_control(name))
