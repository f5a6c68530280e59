"""/rollouts and /rollout?id=…"""

import reflex as rx

from dashboards.components import rollouts
from dashboards.components.layout import page
from dashboards.state.rollouts import RolloutsState, RolloutState


def rollout_list() -> rx.Component:
    return page("Rollouts", rollouts.start_form(), rollouts.rollout_list(), on_tick=RolloutsState.tick)


def rollout() -> rx.Component:
    return page(rx.text("Rollout ", rx.code(RolloutState.rollout_id)), rollouts.rollout_header(),
                rollouts.steps_panel(), rollouts.controls(), rollouts.canary_charts(), rollouts.history_panel(),
                on_tick=RolloutState.tick)
