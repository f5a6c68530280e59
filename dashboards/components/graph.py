"""The service graph drawn as SVG from positions computed by ``logic.shaping.graph_layout``."""

from __future__ import annotations

from typing import Any

import reflex as rx


def service_graph(nodes: Any, edges: Any, width: int = 760, height: int = 250) -> rx.Component:
    """Services as health-coloured circles (linking to their page), calls as labelled arrows."""
    return rx.el.svg(
        rx.el.svg.defs(rx.el.svg.marker(
            rx.el.svg.path(d="M0,0 L8,4 L0,8 z", fill="var(--gray-9)"),
            id="arrow", marker_width="8", marker_height="8", ref_x="8", ref_y="4", orient="auto")),
        rx.foreach(edges, lambda e: rx.el.svg.g(
            rx.el.svg.line(x1=e["x1"], y1=e["y1"], x2=e["x2"], y2=e["y2"], stroke=e["colour"],
                           stroke_width="1.5", marker_end="url(#arrow)"),
            rx.el.svg.text(e["label"], x=e["lx"], y=e["ly"], font_size="10", text_anchor="middle",
                           fill="var(--gray-11)"))),
        rx.foreach(nodes, lambda n: rx.el.svg.a(
            rx.el.svg.circle(cx=n["x"], cy=n["y"], r="11", fill=n["colour"], stroke="var(--gray-12)",
                             stroke_width="1"),
            rx.el.svg.text(n["id"], x=n["x"], y=n["label_y"], font_size="11", text_anchor="middle",
                           fill="var(--gray-12)"),
            href="/service?name=" + n["id"].to(str))),
        view_box=f"0 0 {width} {height}", width="100%", height=f"{height}px", id="service-graph",
        preserve_aspect_ratio="xMidYMid meet",
    )
