"""What the rollout controller acts on, as two small interfaces, and their real implementations.

- :class:`Target`: the fleet. :class:`FleetTarget` goes through the FleetService (so the desired
  state in the control store always agrees with what the controller did) and, below it, the
  Runtime and the Router; draining uses ``Router.drain`` per instance.
- :class:`Hooks`: webhooks and notifications. :class:`HttpHooks` POSTs JSON with a timeout and
  retries (httpx); a notification that fails is reported, never raised into the rollout.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx

from control_plane.domain.fleet import Health
from control_plane.domain.rollout_spec import Notification, NotifyKind, Webhook
from control_plane.errors import NotFoundError, TemporaryError
from control_plane.interfaces import Router, Runtime


class Target(Protocol):
    """The fleet as the rollout controller changes it."""

    def stable_of(self, service: str) -> tuple[str, int]:
        """The version serving most traffic now, and its replicas (NotFoundError for unknown services)."""

    def scale(self, service: str, version: str, replicas: int) -> None:
        """Desired replicas of a version (created if new, with 0% of traffic)."""

    def ready(self, service: str, version: str, replicas: int) -> bool:
        """Whether that many instances of the version answer their readiness check."""

    def set_weights(self, service: str, weights: Mapping[str, int]) -> None:
        """Traffic percentages per version."""

    def drain(self, service: str, version: str) -> None:
        """Stop new requests to the version's instances."""

    def stop(self, service: str, version: str) -> None:
        """Scale the version to zero (it stays known)."""


class Hooks(Protocol):
    """Webhooks and notifications."""

    def call(self, hook: Webhook, payload: Mapping[str, Any]) -> tuple[bool, str]:
        """POST the payload; (accepted, detail). Accepted means a 2xx answer."""

    def notify(self, note: Notification, payload: Mapping[str, Any]) -> None:
        """Send a state change; raise TemporaryError when it could not be delivered."""


class FleetTarget:
    """Target over the FleetService (desired state + router weights) and the Runtime/Router."""

    def __init__(self, fleet: Any, runtime: Runtime, router: Router | None) -> None:
        self.fleet, self.runtime, self.router = fleet, runtime, router

    def _versions(self, service: str) -> list[dict[str, Any]]:
        return list(self.fleet.get_service(service)["versions"])

    def stable_of(self, service: str) -> tuple[str, int]:
        versions = self._versions(service)
        if not versions:
            raise NotFoundError(f"{service} has no deployed version to roll out from", details={"service": service})
        top = max(versions, key=lambda v: (v.get("weight", 0), v.get("replicas", 0)))
        return str(top["version"]), int(top.get("replicas", 1)) or 1

    def scale(self, service: str, version: str, replicas: int) -> None:
        self.fleet.deploy(service, version, replicas)

    def ready(self, service: str, version: str, replicas: int) -> bool:
        up = [i for i in self.runtime.instances()
              if i.service == service and i.version == version and i.health is Health.READY]
        return len(up) >= replicas

    def set_weights(self, service: str, weights: Mapping[str, int]) -> None:
        known = {v["version"] for v in self._versions(service)}
        kept = {v: w for v, w in weights.items() if v in known}
        if sum(kept.values()) != 100:  # a version never deployed (abort while pending) had all the rest
            return
        self.fleet.set_weights(service, kept)

    def drain(self, service: str, version: str) -> None:
        if self.router is None:
            return
        for inst in self.runtime.instances():
            if inst.service == service and inst.version == version:
                self.router.drain(service, inst.id)

    def stop(self, service: str, version: str) -> None:
        if version in {v["version"] for v in self._versions(service)}:
            self.fleet.deploy(service, version, 0)


class HttpHooks:
    """Webhooks over HTTP with a timeout and retries; Slack notifications get ``{"text": ...}``."""

    def __init__(self, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._transport, self._sleep = transport, sleep

    def call(self, hook: Webhook, payload: Mapping[str, Any]) -> tuple[bool, str]:
        detail = "not called"
        for attempt in range(hook.retries + 1):
            try:
                with httpx.Client(timeout=hook.timeout_s, transport=self._transport) as client:
                    resp = client.post(hook.url, json=dict(payload))
            except httpx.HTTPError as exc:
                detail = f"{hook.url}: {type(exc).__name__}: {exc}"
            else:
                if resp.is_success:
                    return True, f"{hook.url}: HTTP {resp.status_code}"
                detail = f"{hook.url}: HTTP {resp.status_code} {resp.text[:200]}"
                if resp.status_code < 500:
                    return False, detail  # a clear refusal: retrying now would get the same answer
            if attempt < hook.retries:
                self._sleep(min(2.0 ** attempt, 5.0))
        return False, detail

    def notify(self, note: Notification, payload: Mapping[str, Any]) -> None:
        body: dict[str, Any] = dict(payload)
        if note.kind is NotifyKind.SLACK:
            body = {"text": f"Rollout {payload.get('rollout')} of {payload.get('service')} "
                            f"{payload.get('version')}: *{payload.get('phase')}* — {payload.get('reason')}"}
        try:
            with httpx.Client(timeout=5.0, transport=self._transport) as client:
                resp = client.post(note.url, json=body)
        except httpx.HTTPError as exc:
            raise TemporaryError(f"notification to {note.url} failed: {exc}") from exc
        if not resp.is_success:
            raise TemporaryError(f"notification to {note.url} answered HTTP {resp.status_code}")
