"""Front-door commands: tokens, users, the audit trail, login, and telemetry (traces, logs).

    fleetdeck token create --role deployer --name ci [--expires 30d]   prints the secret once
    fleetdeck token list [--all] | token revoke ID
    fleetdeck user create NAME --role viewer [--password-stdin] | user list
    fleetdeck audit [--actor A] [--action abort] [--outcome denied] [--since 1h]
    fleetdeck login [--username U]        saves a session token to <state_dir>/cli-token
    fleetdeck traces [--service S] [--errors] | trace ID | logs [--service S] [--follow]

Tables for people; ``--json`` (before or after the subcommand) for scripts. Any API error exits 1
with the API's message (control_plane.cli.main prints it).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from control_plane.cli.connect import make_client
from control_plane.client import ApiClient
from control_plane.errors import ValidationError
from control_plane.settings import load_settings

API = "/api/v1"
_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _call(method: str, path: str, **kwargs: Any) -> Any:
    """One request with a client that is closed afterwards."""
    with make_api_client() as client:
        if method == "GET":
            return client.get(path, **kwargs)
        return client.request(method, path, **kwargs)


def make_api_client() -> ApiClient:
    """The CLI's client (tests replace this function)."""
    return make_client(load_settings())


# --- formatting --------------------------------------------------------------------------------

def parse_duration(text: str, *, field: str) -> int:
    """Seconds in ``30d``, ``12h``, ``15m``, ``90s`` or ``2w``."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValidationError(f"{field}: {text!r} is not a duration like 30d, 12h, 15m", field=field)
    return int(m.group(1)) * _UNITS[m.group(2)]


def parse_since(text: str, *, now: datetime | None = None) -> str:
    """An RFC 3339 instant from ``1h`` (ago) or an RFC 3339 / ISO date given as is."""
    if _DURATION.match(text.strip()):
        at = (now or datetime.now(UTC)) - timedelta(seconds=parse_duration(text, field="since"))
        return at.isoformat()
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise ValidationError(f"since: {text!r} is neither a duration (1h) nor a date", field="since") from None


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], out: Callable[[str], None] = print) -> None:
    """A plain aligned table; ``-`` for empty values."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    out("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip())
    for row in cells:
        out("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    if not rows:
        out("(none)")


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str) and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", value):
        return value[:19].replace("T", " ") + "Z"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _json_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False) or getattr(args, "json_out", False))


def _emit(args: argparse.Namespace, data: Any, show: Callable[[], None]) -> int:
    if _json_wanted(args):
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        show()
    return 0


def _all_pages(client: ApiClient, path: str, params: dict[str, Any], limit: int | None) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        page = client.get(path, **params, cursor=cursor)
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor or (limit is not None and len(items) >= limit):
            return items[:limit] if limit is not None else items


# --- tokens ------------------------------------------------------------------------------------

TOKEN_COLUMNS = ("id", "name", "role", "kind", "owner", "expires_at", "revoked_at", "last_used_at")


def cmd_token_create(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"name": args.name, "role": args.role}
    if args.expires:
        body["expires_in_s"] = parse_duration(args.expires, field="expires")
    created = _call("POST", f"{API}/tokens", json=body)

    def show() -> None:
        print(f"token {created['name']!r} (id {created['id']}, role {created['role']}, "
              f"expires {_cell(created['expires_at']) if created['expires_at'] else 'never'})")
        print(created["token"])
        print("This secret is shown once: store it now (e.g. as FLEETDECK_TOKEN in your CI).", file=sys.stderr)

    return _emit(args, created, show)


def cmd_token_list(args: argparse.Namespace) -> int:
    params = {"include_revoked": "true" if args.all else None, "limit": 500}
    with make_api_client() as client:
        tokens = _all_pages(client, f"{API}/tokens", params, None)
    return _emit(args, tokens, lambda: table(tokens, TOKEN_COLUMNS))


def cmd_token_revoke(args: argparse.Namespace) -> int:
    revoked = _call("DELETE", f"{API}/tokens/{args.id}")
    return _emit(args, revoked, lambda: print(f"revoked token {revoked['name']!r} (id {revoked['id']})"))


# --- users -------------------------------------------------------------------------------------

def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise ValidationError("the two passwords differ", field="password")
    return first


def cmd_user_create(args: argparse.Namespace) -> int:
    body = {"name": args.name, "role": args.role, "password": _read_password(args)}
    user = _call("POST", f"{API}/users", json=body)
    return _emit(args, user, lambda: print(f"created user {user['name']!r} with role {user['role']}"))


def cmd_user_list(args: argparse.Namespace) -> int:
    with make_api_client() as client:
        users = _all_pages(client, f"{API}/users", {"limit": 500}, None)
    return _emit(args, users, lambda: table(users, ("name", "role", "disabled", "created_at", "updated_at")))


# --- audit -------------------------------------------------------------------------------------

def cmd_audit(args: argparse.Namespace) -> int:
    params = {"actor": args.actor, "action": args.action, "outcome": args.outcome, "target": args.target,
              "since": parse_since(args.since) if args.since else None, "limit": min(args.limit, 500)}
    with make_api_client() as client:
        records = _all_pages(client, f"{API}/audit", params, args.limit)
    columns = ("at", "actor", "actor_kind", "method", "route", "target", "status_code", "outcome", "reason",
               "source")
    return _emit(args, records, lambda: table(records, columns))


# --- login -------------------------------------------------------------------------------------

def cmd_login(args: argparse.Namespace) -> int:
    username = args.username or input("user: ")
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("password: ")
    answer = _call("POST", f"{API}/auth/login", json={"username": username,
                                                                          "password": password})
    path = Path(load_settings().state_dir) / "cli-token"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, (answer["token"] + "\n").encode())
    finally:
        os.close(fd)
    summary = {"user": answer["user"], "expires_at": answer["expires_at"], "token_file": str(path)}
    return _emit(args, summary, lambda: print(
        f"logged in as {answer['user']['name']} ({answer['user']['role']}) until "
        f"{_cell(answer['expires_at'])}; token saved to {path}"))


# --- telemetry ---------------------------------------------------------------------------------

def cmd_traces(args: argparse.Namespace) -> int:
    params = {"service": args.service, "operation": args.operation, "status": "error" if args.errors else None,
              "min_duration_ms": args.min_duration_ms, "limit": args.limit,
              "start": parse_since(args.since) if args.since else None}
    page = _call("GET", f"{API}/traces", **params)
    items = page["items"]
    columns = ("trace_id", "start", "service", "operation", "duration_ms", "status", "span_count")
    return _emit(args, page, lambda: table(items, [c for c in columns if any(c in i for i in items)] or columns))


def cmd_trace(args: argparse.Namespace) -> int:
    trace = _call("GET", f"{API}/traces/{args.trace_id}")

    def show() -> None:
        spans = trace.get("spans", [])
        depth = _depths(spans)
        for s in sorted(spans, key=lambda s: str(s.get("start", s.get("start_time", "")))):
            indent = "  " * depth.get(s.get("span_id"), 0)
            status = s.get("status", "")
            print(f"{indent}{s.get('service', '?')}: {s.get('name', s.get('operation', '?'))} "
                  f"{_cell(s.get('duration_ms'))}ms {status}".rstrip())
        if not spans:
            print(json.dumps(trace, indent=2))

    return _emit(args, trace, show)


def _depths(spans: Iterable[dict[str, Any]]) -> dict[Any, int]:
    parents = {s.get("span_id"): s.get("parent_span_id") for s in spans}
    depths: dict[Any, int] = {}
    for sid in parents:
        d, cur, seen = 0, parents.get(sid), set()
        while cur in parents and cur not in seen:
            seen.add(cur)
            d, cur = d + 1, parents.get(cur)
        depths[sid] = d
    return depths


def cmd_logs(args: argparse.Namespace) -> int:
    params = {"service": args.service, "severity": args.severity, "q": args.q, "trace_id": args.trace_id}
    if args.follow:
        with make_api_client() as client:
            for event in client.stream_events(f"{API}/logs/tail", params=params):
                print(json.dumps(event) if _json_wanted(args) else _log_line(event), flush=True)
        return 0
    params.update(limit=args.limit, start=parse_since(args.since) if args.since else None)
    page = _call("GET", f"{API}/logs", **params)
    return _emit(args, page, lambda: [print(_log_line(r)) for r in page["items"]] or None)  # type: ignore[func-returns-value]


def _log_line(r: dict[str, Any]) -> str:
    return " ".join(_cell(r.get(k)) for k in ("time", "service", "severity")) + " " + str(r.get("body", r))


# --- registration ------------------------------------------------------------------------------

def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", dest="json_out", action="store_true", help="print JSON for scripts")


def register(subparsers: argparse._SubParsersAction) -> None:
    roles = ("viewer", "deployer", "operator", "admin")
    token = subparsers.add_parser("token", help="API tokens for CI and scripts (admin)")
    tsub = token.add_subparsers(dest="token_command", metavar="ACTION", required=True)
    p = tsub.add_parser("create", help="create a token and print its secret once")
    p.add_argument("--name", required=True)
    p.add_argument("--role", required=True, choices=roles)
    p.add_argument("--expires", help="lifetime such as 30d, 12h (default: never)")
    _json_flag(p)
    p.set_defaults(func=cmd_token_create)
    p = tsub.add_parser("list", help="tokens (without secrets)")
    p.add_argument("--all", action="store_true", help="include revoked tokens")
    _json_flag(p)
    p.set_defaults(func=cmd_token_list)
    p = tsub.add_parser("revoke", help="revoke a token at once")
    p.add_argument("id")
    _json_flag(p)
    p.set_defaults(func=cmd_token_revoke)

    user = subparsers.add_parser("user", help="users who log in (admin)")
    usub = user.add_subparsers(dest="user_command", metavar="ACTION", required=True)
    p = usub.add_parser("create", help="create a user (password prompted, or read from stdin)")
    p.add_argument("name")
    p.add_argument("--role", required=True, choices=roles)
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _json_flag(p)
    p.set_defaults(func=cmd_user_create)
    p = usub.add_parser("list", help="users")
    _json_flag(p)
    p.set_defaults(func=cmd_user_list)

    p = subparsers.add_parser("audit", help="the audit trail, newest first (admin)")
    p.add_argument("--actor", help="user or token name")
    p.add_argument("--action", help="part of '<METHOD> <route>', e.g. abort or 'POST /api/v1/tokens'")
    p.add_argument("--outcome", choices=("success", "denied", "rejected", "error", "replayed"))
    p.add_argument("--target", help="e.g. user:alice, token:<id>, name=cart")
    p.add_argument("--since", help="1h, 30m, 2d ago or an RFC 3339 time")
    p.add_argument("--limit", type=int, default=50)
    _json_flag(p)
    p.set_defaults(func=cmd_audit)

    p = subparsers.add_parser("login", help="log in and save a session token for this CLI")
    p.add_argument("--username")
    p.add_argument("--password-stdin", action="store_true")
    _json_flag(p)
    p.set_defaults(func=cmd_login)

    p = subparsers.add_parser("traces", help="search traces of the fleet")
    p.add_argument("--service")
    p.add_argument("--operation")
    p.add_argument("--errors", action="store_true", help="only traces with an error")
    p.add_argument("--min-duration-ms", type=float)
    p.add_argument("--since", help="1h, 30m or an RFC 3339 time")
    p.add_argument("--limit", type=int, default=20)
    _json_flag(p)
    p.set_defaults(func=cmd_traces)

    p = subparsers.add_parser("trace", help="one trace as a span tree")
    p.add_argument("trace_id")
    _json_flag(p)
    p.set_defaults(func=cmd_trace)

    p = subparsers.add_parser("logs", help="search logs, or --follow new ones")
    p.add_argument("--service")
    p.add_argument("--severity")
    p.add_argument("--q", help="text to find in the message")
    p.add_argument("--trace-id")
    p.add_argument("--since", help="1h, 30m or an RFC 3339 time")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--follow", "-f", action="store_true", help="stream new logs until interrupted")
    _json_flag(p)
    p.set_defaults(func=cmd_logs)
