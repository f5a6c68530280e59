"""Rollouts: list rows, step progress, decision history with evidence, and the controls each state allows."""

from __future__ import annotations

import json
from enum import Enum
from itertools import pairwise
from typing import Any

from dashboards.logic.formatting import DASH, fmt_clock, fmt_pct, is_number, parse_time, pick


class Phase(str, Enum):
    """Rollout phases as the API reports them (docs/ROLLOUTS.md)."""

    PENDING = "pending"  # accepted; the canary is starting, no traffic yet
    PROGRESSING = "progressing"  # walking the steps; the judge watches throughout
    PAUSED = "paused"  # held by an operator (a failed verdict still rolls back)
    PROMOTING = "promoting"  # replacing stable with the new version
    PROMOTED = "promoted"  # done: the new version takes all traffic
    ROLLING_BACK = "rolling_back"  # canary weight to zero, canary stopping
    ROLLED_BACK = "rolled_back"  # done: analysis failed or an operator aborted
    FAILED = "failed"  # the machinery failed; the reason says which action
    UNKNOWN = "unknown"


PHASE_COLOURS = {Phase.PENDING: "gray", Phase.PROGRESSING: "blue", Phase.PAUSED: "amber",
                 Phase.PROMOTING: "teal", Phase.PROMOTED: "green", Phase.ROLLING_BACK: "orange",
                 Phase.ROLLED_BACK: "red", Phase.FAILED: "red", Phase.UNKNOWN: "gray"}

# Which commands each phase accepts (the API decides; this keeps useless buttons off screen).
_COMMANDS = {
    Phase.PENDING: ["abort"],
    Phase.PROGRESSING: ["promote", "promote-full", "pause", "abort"],
    Phase.PAUSED: ["resume", "promote", "promote-full", "abort"],
    Phase.PROMOTING: [],
    Phase.PROMOTED: [],
    Phase.ROLLING_BACK: [],
    Phase.ROLLED_BACK: ["retry"],
    Phase.FAILED: ["retry", "abort"],
    Phase.UNKNOWN: [],
}
COMMAND_LABELS = {"promote": "Promote to next step", "promote-full": "Promote fully", "pause": "Pause",
                  "resume": "Resume", "abort": "Abort (roll back)", "retry": "Retry"}
def phase_of(value: Any) -> Phase:
    """The Phase named by ``value`` (also accepts 'rolled-back', 'RolledBack')."""
    text = str(value or "").lower().replace("-", "_")
    text = {"rolledback": "rolled_back", "rollback": "rolled_back"}.get(text, text)
    try:
        return Phase(text)
    except ValueError:
        return Phase.UNKNOWN


def commands_for(phase: Phase, allowed: bool) -> list[dict[str, str]]:
    """The command buttons to offer for ``phase``; none when the role may not steer rollouts."""
    if not allowed:
        return []
    return [{"command": c, "label": COMMAND_LABELS[c]} for c in _COMMANDS[phase]]


def _versions(r: dict) -> tuple[str, str]:
    return (str(pick(r, "from_version", "stable_version", "stable", default=DASH)),
            str(pick(r, "to_version", "canary_version", "canary", "version", default=DASH)))


def rollout_rows(payload: Any) -> list[dict[str, Any]]:
    """Rows of the rollouts list, newest first."""
    items = pick(payload, "items", "rollouts", default=payload if isinstance(payload, list) else [])
    rows = []
    for r in items or []:
        if not isinstance(r, dict):
            continue
        phase = phase_of(pick(r, "state", "phase", "status"))
        stable, canary = _versions(r)
        created = parse_time(pick(r, "created_at", "started_at"))
        rows.append({
            "id": str(pick(r, "id", default="")),
            "service": str(pick(r, "service", default=DASH)),
            "change": f"{stable} → {canary}",
            "phase": phase.value,
            "colour": PHASE_COLOURS[phase],
            "step": _step_text(r),
            "created": fmt_clock(created, with_date=True),
            "created_epoch": created or 0.0,
            "reason": str(pick(r, "reason", "status_reason", "message", default="") or ""),
        })
    rows.sort(key=lambda r: r["created_epoch"], reverse=True)
    return rows


def _steps(rollout: dict) -> list[Any]:
    spec = pick(rollout, "spec", default={}) or {}
    return list(pick(spec, "steps", default=None) or pick(rollout, "steps", default=[]) or [])


def _step_index(rollout: dict) -> int | None:
    step = pick(rollout, "step", "current_step", "step_index")
    if isinstance(step, dict):
        step = pick(step, "index")
    return int(step) if is_number(step) else None


def _step_text(rollout: dict) -> str:
    index, steps = _step_index(rollout), _steps(rollout)
    if index is None or not steps:
        return DASH
    return f"{min(index + 1, len(steps))}/{len(steps)}"


def describe_step(step: Any) -> str:
    """'10%', 'analysis 60s', 'pause 30s', 'hold for promote' from a spec step."""
    if not isinstance(step, dict):
        return f"{step}%" if is_number(step) else str(step)
    if "setWeight" in step or "weight" in step:
        return f"{pick(step, 'setWeight', 'weight')}%"
    for kind in ("analysis", "pause"):
        if kind in step:
            body = step[kind] or {}
            duration = pick(body, "duration") if isinstance(body, dict) else body
            if duration:
                return f"{kind} {duration}"
            return "analysis" if kind == "analysis" else "hold for promote"
    return DASH


def step_rows(rollout: dict) -> list[dict[str, Any]]:
    """The rollout's steps with where it is: done / current / failed / to do."""
    steps = _steps(rollout)
    current = _step_index(rollout)
    phase = phase_of(pick(rollout, "state", "phase", "status"))
    rows = []
    for i, step in enumerate(steps):
        if phase in (Phase.PROMOTED, Phase.PROMOTING) or (current is not None and i < current):
            where = "done"
        elif current is not None and i == current and phase in (Phase.PROGRESSING, Phase.PAUSED, Phase.PENDING):
            where = "current"
        elif current is not None and i == current and phase in (Phase.ROLLED_BACK, Phase.ROLLING_BACK,
                                                                 Phase.FAILED):
            where = "failed"
        else:
            where = "todo"
        rows.append({"index": str(i + 1), "label": describe_step(step), "where": where,
                     "colour": {"done": "green", "current": "blue", "failed": "red", "todo": "gray"}[where]})
    return rows


def _verdict_of(entry: dict) -> dict:
    data = pick(entry, "data", default={}) or {}
    verdict = pick(data, "verdict") if isinstance(data, dict) else None
    if isinstance(verdict, dict):
        return verdict
    if pick(entry, "verdict"):
        return {"outcome": pick(entry, "verdict"), "reason": pick(entry, "reason", default="")}
    return {}


def _verdict_evidence(verdict: dict) -> str:
    parts = []
    for check in pick(verdict, "checks", default=[]) or []:
        if not isinstance(check, dict):
            continue
        canary, stable = pick(check, "canary", default={}) or {}, pick(check, "stable", default={}) or {}
        parts.append(f"{pick(check, 'name', default='check')} {pick(check, 'outcome', default='')}: canary "
                     f"{pick(canary, 'events', default=0)}/{pick(canary, 'requests', default=0)} "
                     f"({fmt_pct(pick(canary, 'ratio'))}) vs stable {pick(stable, 'events', default=0)}/"
                     f"{pick(stable, 'requests', default=0)} ({fmt_pct(pick(stable, 'ratio'))}), "
                     f"e={pick(check, 'e_value', default='?')} / threshold {pick(check, 'threshold', default='?')}")
    if pick(verdict, "missing"):
        parts.append(f"missing: {verdict['missing']}")
    if is_number(pick(verdict, "step_canary_requests")):
        parts.append(f"canary requests this step {verdict['step_canary_requests']}"
                     f" (min {pick(verdict, 'min_canary_requests', default='?')})")
    return "; ".join(parts)


def _evidence_text(evidence: Any) -> str:
    if not evidence:
        return ""
    if isinstance(evidence, dict):
        parts = []
        for k, v in evidence.items():
            if isinstance(v, float):
                v = fmt_pct(v) if "ratio" in k else f"{v:.4g}"
            elif isinstance(v, (dict, list)):
                v = json.dumps(v, sort_keys=True)[:300]
            parts.append(f"{k}={v}")
        return "; ".join(parts)
    return str(evidence)[:600]


def history_rows(rollout: dict) -> list[dict[str, Any]]:
    """Every transition, action and decisive verdict with its reason and evidence, oldest first.

    Verdicts that only say "continue" (the judge looks every few seconds) are folded: only the
    latest one is kept, so the decisions stay readable.
    """
    events = pick(rollout, "history", "events", "transitions", default=[]) or []
    verdicts = pick(rollout, "verdicts", "analyses", default=[]) or []
    rows = []
    for e in list(events) + list(verdicts):
        if not isinstance(e, dict):
            continue
        at = parse_time(pick(e, "at", "time", "timestamp", "created_at"))
        verdict = _verdict_of(e)
        outcome = str(pick(verdict, "outcome", default="") or "")
        kind = str(pick(e, "kind", "type", "event", default="") or "")
        frm, to = pick(e, "from_state", "from"), pick(e, "to_state", "to", "phase", "state")
        if outcome:
            what = f"analysis: {outcome}"
        elif frm and to:
            what = f"{frm} → {to}"
        else:
            what = " → ".join(str(p) for p in (kind, to) if p)
        data = pick(e, "data", default={}) or {}
        evidence = _verdict_evidence(verdict) if verdict else _evidence_text(pick(e, "evidence", "details"))
        rows.append({"at": fmt_clock(at, with_date=True), "epoch": at or 0.0, "what": what,
                     "verdict": outcome,
                     "colour": {"pass": "green", "fail": "red", "inconclusive": "amber"}.get(outcome.lower(), "gray"),
                     "reason": str(pick(e, "reason", "message", default="") or pick(verdict, "reason", default="")),
                     "actor": str(pick(e, "actor", "by", "user", default="") or
                                  (pick(data, "actor", default="") if isinstance(data, dict) else "")),
                     "evidence": evidence})
    rows.sort(key=lambda r: r["epoch"])
    continues = [i for i, r in enumerate(rows) if r["verdict"] == "continue"]
    drop = set(continues[:-1])
    return [r for i, r in enumerate(rows) if i not in drop]


def why_label(rollout: dict) -> str:
    """A one-line answer to 'why did it end like this?' (the last transition's reason)."""
    phase = phase_of(pick(rollout, "state", "phase", "status"))
    reason = pick(rollout, "reason", "status_reason")
    if not reason:
        hist = [h for h in history_rows(rollout) if h["reason"]]
        reason = hist[-1]["reason"] if hist else ""
    label = phase.value.replace("_", " ")
    if phase in (Phase.ROLLED_BACK, Phase.PROMOTED, Phase.PAUSED, Phase.FAILED) and reason \
            and not str(reason).startswith(label):
        return f"{label}: {reason}"
    return str(reason or "")


def verdict_markers(rollout: dict, chart_times: list[float] | None = None) -> list[dict[str, str]]:
    """Decisive verdicts to mark on the canary-vs-stable charts.

    The charts' x axis is categorical (one label per sample), so a marker must sit on an existing
    label: each verdict is snapped to the nearest chart time when ``chart_times`` is given.
    Verdicts landing on the same x are merged into one marker labelled with the decisive one
    (fail over pass over inconclusive), so their labels are never drawn over each other.
    """
    rank = {"fail": 2, "pass": 1, "inconclusive": 0}
    by_t: dict[str, dict[str, str]] = {}
    for h in history_rows(rollout):
        if h["verdict"] not in rank:
            continue
        t = h["at"][-8:]
        if chart_times:
            nearest = min(chart_times, key=lambda c: abs(c - h["epoch"]))
            t = fmt_clock(nearest)
        current = by_t.get(t)
        if current is None or rank[h["verdict"]] > rank[current["verdict"]]:
            by_t[t] = {"t": t, "verdict": h["verdict"], "colour": h["colour"]}
    return list(by_t.values())


def start_request(service: str, version: str, steps_text: str, analysis_text: str,
                  hold: bool = False) -> tuple[dict[str, Any], str]:
    """Validate the start form into a rollout spec; returns (spec, error) with error '' when valid.

    Each weight becomes ``setWeight`` followed by an ``analysis`` of the given seconds; ``hold``
    adds a final pause that waits for an operator to promote.
    """
    if not service.strip():
        return {}, "choose a service"
    if not version.strip():
        return {}, "name the version to roll out"
    try:
        weights = [int(w) for w in steps_text.replace(" ", "").split(",") if w]
    except ValueError:
        return {}, "steps are whole-number weights separated by commas, e.g. 10,25,50"
    if not weights or any(not 0 < w <= 100 for w in weights) or any(b <= a for a, b in pairwise(weights)):
        return {}, "steps must be strictly increasing weights between 1 and 100"
    try:
        analysis = int(analysis_text or "0")
    except ValueError:
        return {}, "analysis is a whole number of seconds"
    if analysis < 0:
        return {}, "analysis cannot be negative"
    steps: list[dict[str, Any]] = []
    for w in weights:
        steps.append({"setWeight": w})
        if analysis:
            steps.append({"analysis": {"duration": f"{analysis}s"}})
    if hold:
        steps.append({"pause": {}})
    return {"service": service.strip(), "version": version.strip(), "steps": steps}, ""
