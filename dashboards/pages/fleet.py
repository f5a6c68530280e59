"""/ (fleet overview) and /service?name=…&window=…"""

import reflex as rx

from dashboards.components import fleet
from dashboards.components.layout import page
from dashboards.state.fleet import OverviewState, ServiceState


def overview() -> rx.Component:
    return page("Fleet overview", fleet.graph_panel(), fleet.services_table(), on_tick=OverviewState.tick,
                subtitle="Every service now, with its last 10 minutes as trend lines.")


def service() -> rx.Component:
    return page(
        ServiceState.name,
        rx.cond(ServiceState.rollout != "", rx.link(rx.callout(ServiceState.rollout, icon="rocket", size="1"),
                                                   href="/rollout?id=" + ServiceState.rollout_id)),
        fleet.red_charts(),
        rx.grid(rx.vstack(fleet.versions_panel(), fleet.instances_panel(), spacing="3", width="100%"),
                fleet.side_panel(), columns="3fr 1fr", spacing="3", width="100%"),
        fleet.confirm_dialog(),
        on_tick=ServiceState.tick, subtitle="Rate, errors and latency split by version",
        actions=rx.select(ServiceState.windows, value=ServiceState.window, on_change=ServiceState.set_window,
                          size="1", aria_label="window"),
    )
