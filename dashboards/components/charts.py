"""Recharts building blocks: time-series per version, sparklines, the trace scatter."""

from __future__ import annotations

from typing import Any

import reflex as rx


def sparkline(data: Any, colour: str = "var(--accent-9)") -> rx.Component:
    """A tiny trend line with no axes."""
    return rx.recharts.line_chart(
        rx.recharts.line(data_key="v", stroke=colour, dot=False, is_animation_active=False, stroke_width=1.5),
        data=data, width=90, height=26, margin={"top": 2, "right": 2, "bottom": 2, "left": 2},
    )


def series_chart(data: Any, lines: Any, unit: str, height: int = 200,
                 markers: Any = None) -> rx.Component:
    """A time-series chart with one line per entry of ``lines`` ({key, colour, dash})."""
    extra = []
    if markers is not None:
        extra.append(rx.foreach(markers, lambda m: rx.recharts.reference_line(
            x=m["t"], stroke=m["colour"], stroke_dasharray="4 2", label=m["verdict"].to(str))))
    return rx.recharts.line_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-a4)"),
        rx.recharts.x_axis(data_key="t", tick={"fontSize": 10}, min_tick_gap=40),
        rx.recharts.y_axis(unit=unit, tick={"fontSize": 10}, width=60),
        rx.recharts.tooltip(content_style={"background": "var(--color-panel-solid)", "fontSize": 12}),
        rx.recharts.legend(wrapper_style={"fontSize": 11}),
        rx.foreach(lines, lambda ln: rx.recharts.line(
            data_key=ln["key"], name=ln["key"], stroke=ln["colour"], stroke_dasharray=ln["dash"],
            dot=False, is_animation_active=False, stroke_width=1.8, connect_nulls=True)),
        *extra,
        data=data, width="100%", height=height, margin={"top": 6, "right": 12, "bottom": 0, "left": 0},
    )


def scatter(ok: Any, errors: Any, on_click: Any = None) -> rx.Component:
    """Trace durations over time: ok traces blue, error traces red; a click opens the trace."""
    return rx.recharts.scatter_chart(
        rx.recharts.cartesian_grid(stroke_dasharray="3 3", stroke="var(--gray-a4)"),
        rx.recharts.x_axis(data_key="x", type_="number", name="seconds", unit="s", tick={"fontSize": 10}),
        rx.recharts.y_axis(data_key="y", type_="number", name="duration", unit="ms", tick={"fontSize": 10},
                           width=60),
        rx.recharts.tooltip(),
        rx.recharts.scatter(name="ok", data=ok, fill="#3e63dd", is_animation_active=False),
        rx.recharts.scatter(name="error", data=errors, fill="#e5484d", is_animation_active=False),
        rx.recharts.legend(wrapper_style={"fontSize": 11}),
        width="100%", height=200, margin={"top": 6, "right": 12, "bottom": 0, "left": 0},
    )
