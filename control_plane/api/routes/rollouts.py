"""Rollout routes: create (deployer, Idempotency-Key handled by the front door), read with the whole
history, operator controls, and a server-sent event stream of the history for CI to watch."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from control_plane.api.conventions import check_if_match, etag_for
from control_plane.api.deps import ContextDep, Identity, Role, require_role
from control_plane.domain.rollout import Command
from control_plane.errors import ConflictError, TemporaryError
from control_plane.rollouts.controller import RolloutController

router = APIRouter(tags=["rollouts"])

Deployer = Annotated[Identity, require_role(Role.DEPLOYER)]
POLL_S = 1.0


class ControlBody(BaseModel):
    """Optional body of a control: why, and the step the caller saw (a stale step is a conflict)."""

    model_config = ConfigDict(extra="forbid")
    reason: str = Field(default="", max_length=500)
    step: int | None = Field(default=None, ge=0)


def _ctl(ctx: ContextDep) -> RolloutController:
    if ctx.rollouts is None:
        raise TemporaryError("the rollout controller is not started")
    return ctx.rollouts  # type: ignore[no-any-return]


def _actor(ident: Identity) -> str:
    return f"{ident.kind}:{ident.name}"


@router.post("/rollouts", status_code=201)
def create_rollout(ctx: ContextDep, ident: Deployer, response: Response,
                   spec: Annotated[dict[str, Any], Body(description="rollout spec; service and version suffice")]
                   ) -> dict[str, Any]:
    """Start a rollout (409 with the active rollout's id when the service already has one)."""
    out = _ctl(ctx).create(spec, actor=_actor(ident))
    response.headers["Location"] = f"/api/v1/rollouts/{out['id']}"
    response.headers["ETag"] = etag_for(out["resource_version"])
    return out


@router.get("/rollouts", dependencies=[require_role(Role.DEPLOYER)])
def list_rollouts(ctx: ContextDep, service: Annotated[str | None, Query(max_length=64)] = None,
                  limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[dict[str, Any]]:
    """Newest first."""
    return _ctl(ctx).list(service, limit)


@router.get("/rollouts/{rid}", dependencies=[require_role(Role.DEPLOYER)])
def get_rollout(rid: str, ctx: ContextDep, response: Response) -> dict[str, Any]:
    """The rollout, its latest evidence and its whole history (every transition with its reason)."""
    out = _ctl(ctx).get(rid)
    response.headers["ETag"] = etag_for(out["resource_version"])
    return out


def _control(command: Command):  # type: ignore[no-untyped-def]
    def handler(rid: str, ctx: ContextDep, ident: Deployer, response: Response,
                body: ControlBody | None = None,
                if_match: Annotated[str | None, Header()] = None) -> dict[str, Any]:
        ctl = _ctl(ctx)
        current = ctl.get(rid)
        check_if_match(if_match, etag_for(current["resource_version"]), required=False)
        body = body or ControlBody()
        if body.step is not None and body.step != current["step"]["index"]:
            raise ConflictError(f"the rollout is at step {current['step']['index']}, not {body.step}",
                                details={"rollout_id": rid, "step": current["step"]["index"]})
        expected = current["resource_version"] if (if_match or body.step is not None) else None
        out = ctl.command(rid, command, _actor(ident), body.reason, expected_version=expected)
        response.headers["ETag"] = etag_for(out["resource_version"])
        return out

    handler.__name__ = f"rollout_{command.name.lower()}"
    handler.__doc__ = f"{command.value}: see docs/ROLLOUTS.md. If-Match or body.step make it conditional."
    return handler


for _command in Command:
    router.add_api_route(f"/rollouts/{{rid}}/{_command.value}", _control(_command), methods=["POST"])


@router.get("/rollouts/{rid}/events", response_class=StreamingResponse,
            dependencies=[require_role(Role.DEPLOYER)],
            responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}},
                             "description": "Server-sent events: one history entry per event, id = its seq"}})
async def rollout_events(rid: str, ctx: ContextDep, request: Request,
                         last_event_id: Annotated[str | None, Header()] = None,
                         after: Annotated[int, Query(ge=0)] = 0) -> StreamingResponse:
    """Follow a rollout's history; the stream ends after the rollout does."""
    ctl = _ctl(ctx)
    start = int(last_event_id) if last_event_id and last_event_id.isdigit() else after
    await run_in_threadpool(ctl.get, rid)  # 404 before the stream starts

    async def stream() -> AsyncIterator[bytes]:
        seen = start
        while True:
            entries = await run_in_threadpool(ctl.events, rid, seen)
            for e in entries:
                seen = e["seq"]
                yield f"id: {e['seq']}\nevent: {e['kind']}\ndata: {json.dumps(e, default=str)}\n\n".encode()
            phase = (await run_in_threadpool(ctl.repo.get, rid)).state.phase
            if phase.terminal and not entries:
                yield b"event: end\ndata: {}\n\n"
                return
            if await request.is_disconnected():
                return
            await asyncio.sleep(POLL_S)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
