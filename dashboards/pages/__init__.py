"""Route functions: each composes components for one page; all state is in ``dashboards.state``."""
