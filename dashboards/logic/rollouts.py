"""Rollouts: list rows, step progress, decision history with evidence, and the controls each state allows."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

from dashboards.logic.formatting import DASH, fmt_clock, fmt_pct, is_number, parse_time, pick


class Phase(str, Enum):
    """Rollout phases as the API reports them (ARCHITECTURE.md, Rollouts)."""

    PENDING = "pending"  # accepted, not started
    PROGRESSING = "progressing"  # stepping weights and analysing
    PAUSED = "paused"  # held by an operator or a step without auto-advance
    PROMOTED = "promoted"  # the new version takes all traffic
    ROLLED_BACK = "rolled_back"  # back on stable (analysis failed or aborted)
    UNKNOWN = "unknown"


PHASE_COLOURS = {Phase.PENDING: "gray", Phase.PROGRESSING: "blue", Phase.PAUSED: "amber",
                 Phase.PROMOTED: "green", Phase.ROLLED_BACK: "red", Phase.UNKNOWN: "gray"}

# Which commands each phase accepts (the API decides; this keeps useless buttons off screen).
_COMMANDS = {
    Phase.PENDING: ["abort"],
    Phase.PROGRESSING: ["promote", "promote-full", "pause", "abort"],
    Phase.PAUSED: ["resume", "promote", "promote-full", "abort"],
    Phase.PROMOTED: [],
    Phase.ROLLED_BACK: ["retry"],
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
        steps = pick(r, "steps", default=[]) or []
        step = pick(r, "step", "current_step", "step_index")
        created = parse_time(pick(r, "created_at", "started_at"))
        rows.append({
            "id": str(pick(r, "id", default="")),
            "service": str(pick(r, "service", default=DASH)),
            "change": f"{stable} → {canary}",
            "phase": phase.value,
            "colour": PHASE_COLOURS[phase],
            "step": f"{int(step) + 1}/{len(steps)}" if is_number(step) and steps else DASH,
            "created": fmt_clock(created, with_date=True),
            "created_epoch": created or 0.0,
            "reason": str(pick(r, "reason", "status_reason", "message", default="") or ""),
        })
    rows.sort(key=lambda r: r["created_epoch"], reverse=True)
    return rows


def step_rows(rollout: dict) -> list[dict[str, Any]]:
    """The rollout's steps with where it is: done / current / to do."""
    steps = pick(rollout, "steps", default=[]) or []
    current = pick(rollout, "step", "current_step", "step_index")
    phase = phase_of(pick(rollout, "state", "phase", "status"))
    rows = []
    for i, s in enumerate(steps):
        weight = pick(s, "weight", "canary_weight") if isinstance(s, dict) else s
        pause = pick(s, "pause", "pause_seconds", "duration") if isinstance(s, dict) else None
        if phase == Phase.PROMOTED or is_number(current) and i < current:
            where = "done"
        elif is_number(current) and i == current and phase in (Phase.PROGRESSING, Phase.PAUSED):
            where = "current"
        elif is_number(current) and i == current and phase == Phase.ROLLED_BACK:
            where = "failed"
        else:
            where = "todo"
        rows.append({"index": str(i + 1), "weight": f"{weight}%" if weight is not None else DASH,
                     "pause": f"{pause}s" if is_number(pause) else str(pause or DASH), "where": where,
                     "colour": {"done": "green", "current": "blue", "failed": "red", "todo": "gray"}[where]})
    return rows


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
    """Every transition and verdict with its reason and evidence, oldest first."""
    events = pick(rollout, "events", "history", "transitions", default=[]) or []
    verdicts = pick(rollout, "verdicts", "analyses", default=[]) or []
    rows = []
    for e in list(events) + list(verdicts):
        if not isinstance(e, dict):
            continue
        at = parse_time(pick(e, "at", "time", "timestamp", "created_at"))
        verdict = str(pick(e, "verdict", "result", default="") or "")
        frm, to = pick(e, "from_state", "from"), pick(e, "to_state", "to", "state")
        what = f"{frm} → {to}" if frm and to else str(to or pick(e, "type", "kind", "event", default=""))
        if verdict and not to:
            what = f"analysis: {verdict}"
        rows.append({"at": fmt_clock(at, with_date=True), "epoch": at or 0.0, "what": what,
                     "verdict": verdict,
                     "colour": {"pass": "green", "fail": "red", "inconclusive": "amber"}.get(verdict.lower(),
                                                                                            "gray"),
                     "reason": str(pick(e, "reason", "message", default="") or ""),
                     "actor": str(pick(e, "actor", "by", "user", default="") or ""),
                     "evidence": _evidence_text(pick(e, "evidence", "details"))})
    rows.sort(key=lambda r: r["epoch"])
    return rows


def why_label(rollout: dict) -> str:
    """A one-line answer to 'why did it end like this?' (the last transition's reason)."""
    phase = phase_of(pick(rollout, "state", "phase", "status"))
    reason = pick(rollout, "reason", "status_reason")
    if not reason:
        hist = [h for h in history_rows(rollout) if h["reason"]]
        reason = hist[-1]["reason"] if hist else ""
    if phase in (Phase.ROLLED_BACK, Phase.PROMOTED, Phase.PAUSED) and reason:
        return f"{phase.value.replace('_', ' ')}: {reason}"
    return str(reason or "")


def verdict_markers(rollout: dict) -> list[dict[str, str]]:
    """Times (chart x labels) of analysis verdicts, to mark them on the canary-vs-stable charts."""
    return [{"t": h["at"][-8:], "verdict": h["verdict"], "colour": h["colour"]}
            for h in history_rows(rollout) if h["verdict"]]


def start_request(service: str, version: str, steps_text: str, pause_text: str) -> tuple[dict[str, Any], str]:
    """Validate the start form; returns (request body, error) with error '' when the body is valid."""
    if not service.strip():
        return {}, "choose a service"
    if not version.strip():
        return {}, "name the version to roll out"
    try:
        weights = [int(w) for w in steps_text.replace(" ", "").split(",") if w]
    except ValueError:
        return {}, "steps are whole-number weights separated by commas, e.g. 10,25,50,100"
    if not weights or any(not 0 < w <= 100 for w in weights) or weights != sorted(weights):
        return {}, "steps must be increasing weights between 1 and 100"
    try:
        pause = int(pause_text or "0")
    except ValueError:
        return {}, "pause is a whole number of seconds"
    if pause < 0:
        return {}, "pause cannot be negative"
    return {"service": service.strip(), "version": version.strip(),
            "steps": [{"weight": w, "pause_seconds": pause} for w in weights]}, ""
