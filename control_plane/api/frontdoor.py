"""The front-door middleware: size limit, idempotency, the audit trail, and the last-resort 500.

Pure ASGI (not BaseHTTPMiddleware) so streamed responses (SSE) pass through untouched.
For each HTTP request it:
1. rejects bodies over ``ApiLimits.max_body_bytes`` with 413 (Content-Length or counted);
2. for ``POST`` with ``Idempotency-Key``: replays the stored response of the same key + credentials +
   path, refuses the key with a different body (422) or while the first is still running (409);
3. runs the app, turning an unhandled exception into a logged 500 JSON error (bugs only);
4. appends an audit record for every mutation and every 401/403, with the reason from the body.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from control_plane.api.context import AppContext
from control_plane.api.conventions import (
    ApiLimits,
    check_idempotency_key,
    credential_fingerprint,
    request_fingerprint,
)
from control_plane.api.errors import Unauthorized, error_bytes
from control_plane.api.identity import Identity, RefusedCaller, authenticate
from control_plane.api.roles import SAFE_METHODS
from control_plane.errors import ValidationError
from control_plane.store.audit_repo import AuditEntry, AuditRepo
from control_plane.store.auth_repo import IdempotencyRepo, Reservation, StoredResponse

log = logging.getLogger("control_plane.api")

# POSTs that never take an Idempotency-Key (they create nothing a retry could duplicate).
NO_IDEMPOTENCY = frozenset({"/api/v1/auth/login", "/api/v1/auth/logout"})
# Response headers worth replaying with a stored response.
REPLAYED_HEADERS = ("content-type", "location", "etag")
MAX_REASON = 2000


def limits_of(ctx: AppContext) -> ApiLimits:
    limits = ctx.extras.get("api_limits")
    return limits if isinstance(limits, ApiLimits) else ApiLimits()


def outcome_of(status: int) -> str:
    if status in (401, 403):
        return "denied"
    if status >= 500:
        return "error"
    if status >= 400:
        return "rejected"
    return "success"


def _reason_of(body: bytes, content_type: str) -> str | None:
    if not body or "json" not in content_type:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    reason = data.get("reason") if isinstance(data, dict) else None
    return reason[:MAX_REASON] if isinstance(reason, str) and reason.strip() else None


class _Response:
    """What the app sent back, as seen on the way out."""

    def __init__(self, capture: bool) -> None:
        self.status = 0
        self.started = False
        self.capture = capture
        self.settled = False
        self.audited = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []


class FrontDoor:
    """See the module docstring."""

    def __init__(self, app: ASGIApp, ctx: AppContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = uuid.uuid4().hex[:16]
        method: str = scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        mutating = method not in SAFE_METHODS
        limits = limits_of(self.ctx)

        body = b""
        if mutating or "content-length" in headers or "transfer-encoding" in headers:
            too_big, body = await self._read_body(receive, headers, limits.max_body_bytes)
            if too_big:
                await self._send_error(send, 413, "payload_too_large",
                                       f"request body is larger than {limits.max_body_bytes} bytes",
                                       {"limit_bytes": limits.max_body_bytes})
                if mutating:
                    await self._audit(scope, state, headers, 413, body=b"")
                return
            receive = _replay(body, receive)

        idem = None
        if method == "POST" and "idempotency-key" in headers and scope["path"] not in NO_IDEMPOTENCY:
            try:
                key = check_idempotency_key(headers["idempotency-key"])
            except ValidationError as exc:
                await self._send_error(send, 422, exc.code, exc.message, exc.details)
                await self._audit(scope, state, headers, 422, body=body)
                return
            idem = (key, credential_fingerprint(headers.get("authorization")), f"{method} {scope['path']}")
            fingerprint = request_fingerprint(method, scope["path"], scope.get("query_string", b"").decode(
                "latin-1"), body)
            verdict, stored = await anyio.to_thread.run_sync(self._reserve, idem, fingerprint,
                                                             limits.idempotency_ttl_s)
            if verdict is not Reservation.NEW:
                status = await self._answer_reservation(send, verdict, stored, headers["idempotency-key"])
                await self._audit(scope, state, headers, status, body=body,
                                  replayed=verdict is Reservation.REPLAY)
                return

        resp = _Response(capture=idem is not None)

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                resp.started = True
                resp.status = message["status"]
                resp.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body" and resp.capture:
                resp.chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and idem is not None:
                    # Store before the client sees the answer, so its retry finds it stored.
                    resp.settled = True
                    await anyio.to_thread.run_sync(self._settle, idem, resp)
            if (message["type"] == "http.response.body" and not message.get("more_body", False)
                    and not resp.audited and (mutating or resp.status in (401, 403))):
                # Audit before the last byte leaves, so a caller who saw the answer finds the record.
                resp.audited = True
                await self._audit(scope, state, headers, resp.status, body=body)
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception:  # a bug: log it, answer 500 JSON, never a stack trace to the caller
            log.exception("unhandled error in %s %s (request %s)", method, scope["path"], state["request_id"])
            if not resp.started:
                resp.chunks = []
                await self._send_error(send, 500, "internal_error",
                                       f"internal error (request id {state['request_id']}); it is logged",
                                       {"request_id": state["request_id"]})
                resp.status = 500
        finally:
            if idem is not None and not resp.settled:
                await anyio.to_thread.run_sync(self._settle, idem, resp)
        if not resp.audited and (mutating or resp.status in (401, 403)):
            await self._audit(scope, state, headers, resp.status, body=body)

    # --- body and errors ---------------------------------------------------------------------

    @staticmethod
    async def _read_body(receive: Receive, headers: dict[str, str], limit: int) -> tuple[bool, bytes]:
        try:
            if int(headers.get("content-length", "0")) > limit:
                return True, b""
        except ValueError:
            pass
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return True, b""
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return False, b"".join(chunks)

    @staticmethod
    async def _send_error(send: Send, status: int, code: str, message: str, details: dict | None = None,
                          extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
        payload = error_bytes(code, message, details)
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())] + (extra_headers or [])})
        await send({"type": "http.response.body", "body": payload})

    # --- idempotency -------------------------------------------------------------------------

    def _reserve(self, idem: tuple[str, str, str], fingerprint: str,
                 ttl_s: int) -> tuple[Reservation, StoredResponse | None]:
        with self.ctx.sessions() as session:
            return IdempotencyRepo(session).reserve(*idem, fingerprint, timedelta(seconds=ttl_s))

    def _settle(self, idem: tuple[str, str, str], resp: _Response) -> None:
        """Keep the answer for replays; forget the key when a retry should run again."""
        with self.ctx.sessions() as session:
            repo = IdempotencyRepo(session)
            if resp.status >= 500 or resp.status in (0, 401, 403, 429):
                repo.release(*idem)
                return
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in resp.headers
                       if k.decode("latin-1").lower() in REPLAYED_HEADERS}
            repo.finish(*idem, StoredResponse(resp.status, b"".join(resp.chunks).decode("utf-8", "replace"),
                                              headers))

    async def _answer_reservation(self, send: Send, verdict: Reservation, stored: StoredResponse | None,
                                  key: str) -> int:
        if verdict is Reservation.REPLAY and stored is not None:
            payload = stored.body.encode()
            hdrs = [(k.encode(), v.encode()) for k, v in stored.headers.items()]
            hdrs += [(b"content-length", str(len(payload)).encode()), (b"idempotent-replayed", b"true")]
            await send({"type": "http.response.start", "status": stored.status_code, "headers": hdrs})
            await send({"type": "http.response.body", "body": payload})
            return stored.status_code
        if verdict is Reservation.MISMATCH:
            await self._send_error(send, 422, "idempotency_key_reused",
                                   "this Idempotency-Key was already used with a different request; "
                                   "use a new key for a new request",
                                   {"field": "Idempotency-Key", "key": key})
            return 422
        await self._send_error(send, 409, "idempotency_in_progress",
                               "a request with this Idempotency-Key is still being processed; retry shortly",
                               {"field": "Idempotency-Key", "key": key}, [(b"retry-after", b"1")])
        return 409

    # --- audit -------------------------------------------------------------------------------

    async def _audit(self, scope: Scope, state: dict[str, Any], headers: dict[str, str], status: int, *,
                     body: bytes, replayed: bool = False) -> None:
        ident = state.get("identity")
        refused = state.get("refused_caller")
        if ident is None and refused is None and headers.get("authorization"):
            # No route dependency ran (replay, 404, 413...): name the caller all the same.
            refused = RefusedCaller()
            ident = await anyio.to_thread.run_sync(self._identify_quietly, headers["authorization"], refused)
        if ident is not None:
            actor, kind, token_id = ident.name, ident.kind, ident.token_id
        elif refused is not None:
            actor, kind, token_id = refused.actor, refused.actor_kind, refused.token_id
        else:
            actor, kind, token_id = state.get("audit_actor", "anonymous"), "anonymous", None
        template = route_template(scope) or scope["path"]
        target = state.get("audit_target")
        if target is None and scope.get("path_params"):
            target = ",".join(f"{k}={v}" for k, v in scope["path_params"].items())
        client = scope.get("client")
        entry = AuditEntry(
            actor=actor, actor_kind=kind, token_id=token_id, method=scope["method"], route=template,
            path=scope["path"], target=target, source=client[0] if client else None,
            outcome="replayed" if replayed else outcome_of(status), status_code=status,
            reason=state.get("audit_reason") or _reason_of(body, headers.get("content-type", "")),
            detail=state.get("auth_refusal") if status in (401, 403) else state.get("audit_detail"),
            request_id=state["request_id"])
        try:
            await anyio.to_thread.run_sync(self._append, entry)
        except Exception:  # the audit store failing must be loud, but not hide the answer already sent
            log.exception("could not write the audit record of %s %s", scope["method"], scope["path"])

    def _identify_quietly(self, authorization: str, refused: RefusedCaller) -> Identity | None:
        with self.ctx.sessions() as session:
            try:
                return authenticate(session, authorization, refused)
            except Unauthorized:
                return None

    def _append(self, entry: AuditEntry) -> None:
        with self.ctx.sessions() as session:
            AuditRepo(session).append(entry)
            session.commit()


def route_template(scope: Scope) -> str | None:
    """The matched route's full path template (``/api/v1/tokens/{token_id}``), None if none matched.

    FastAPI >= 0.16x includes routers lazily: ``scope["route"]`` is then the sub-router's route
    (without the include prefix) and the full template sits in FastAPI's effective route context.
    """
    effective = scope.get("fastapi", {}).get("effective_route_context")
    if effective is not None:
        path = (getattr(getattr(effective, "starlette_route", None), "path_format", None)
                or getattr(effective, "path_format", None) or getattr(effective, "path", None))
        if path:
            return str(path)
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else None


def _replay(body: bytes, original: Receive) -> Receive:
    """Hand the already-read body to the app once, then pass on what the server sends (disconnect)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await original()

    return receive
