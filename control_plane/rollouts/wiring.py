"""Build the rollout controller from the daemon's parts and run its loop in a thread.

The daemon calls :func:`start_controller` once its FleetService, Runtime, Router and MetricsSource
exist; it sets ``ctx.rollouts`` (the API's handle) and plugs ``active_for`` into the fleet view.
"""

from __future__ import annotations

import threading
from typing import Any

from control_plane.interfaces import MetricsSource, Router, Runtime
from control_plane.rollouts.controller import LOOP_TICK_S, RolloutController
from control_plane.rollouts.ports import FleetTarget, HttpHooks
from control_plane.store.rollout_repo import RolloutRepo


def start_controller(ctx: Any, fleet: Any, runtime: Runtime, router: Router | None,
                     metrics: MetricsSource | None, stop: threading.Event,
                     interval_s: float = LOOP_TICK_S) -> tuple[RolloutController, threading.Thread]:
    """Create the controller, expose it on ``ctx.rollouts``, resume stored rollouts and start the loop."""
    ctl = RolloutController(RolloutRepo(ctx.sessions), FleetTarget(fleet, runtime, router), metrics, HttpHooks())
    ctx.rollouts = ctl
    if getattr(fleet, "active_rollout", "missing") is None:
        fleet.active_rollout = ctl.active_for
    thread = threading.Thread(target=ctl.run_forever, args=(stop, interval_s), name="rollouts", daemon=True)
    thread.start()
    return ctl, thread
