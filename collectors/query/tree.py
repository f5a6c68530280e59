"""A trace as a tree: parent/child links, each span's self time, and the critical path.

Self time is the part of a span's duration not covered by any of its children (overlapping
children count once). The critical path walks back from the end of the root: the child that
finished last before the cursor is on it, the cursor moves to that child's start, and so on
recursively, as Jaeger computes it; each span on the path gets the time it contributes.
Everything is iterative so a hostile, very deep trace cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Node:
    """One span's place in the tree."""

    span_id: str
    parent_span_id: str
    start_ns: int
    end_ns: int
    children: list[Node] = field(default_factory=list)
    depth: int = 0
    self_ns: int = 0
    critical_ns: int = 0
    critical: bool = False


@dataclass
class Tree:
    """Spans in depth-first order (children by start time), the roots, and the critical path (by start time)."""

    order: list[Node]
    roots: list[Node]
    critical_path: list[str]


def build_tree(spans: Sequence[tuple[str, str, int, int]]) -> Tree:
    """Tree of (span_id, parent_span_id, start_ns, end_ns); a span whose parent is absent is a root."""
    nodes: dict[str, Node] = {}
    for span_id, parent, start, end in spans:
        nodes.setdefault(span_id, Node(span_id, parent, start, max(end, start)))
    roots: list[Node] = []
    for node in nodes.values():
        parent = nodes.get(node.parent_span_id) if node.parent_span_id else None
        if parent is None or parent is node:
            roots.append(node)
        else:
            parent.children.append(node)
    # A parent cycle (bad data) leaves nodes unreachable from any root: promote one per cycle.
    order = _preorder(roots)
    if len(order) < len(nodes):
        seen = {id(n) for n in order}
        for node in nodes.values():
            if id(node) not in seen:
                roots.append(node)
                for n in _preorder([node], seen):
                    seen.add(id(n))
        order = _preorder(roots)
    for node in order:
        node.self_ns = _self_time(node)
    roots.sort(key=lambda n: (n.start_ns, n.span_id))
    path = _critical_path(max(roots, key=lambda n: (n.end_ns - n.start_ns, -n.start_ns))) if roots else []
    return Tree(_preorder(roots), roots, path)


def _preorder(roots: list[Node], seen: set[int] | None = None) -> list[Node]:
    out: list[Node] = []
    visited = set(seen or ())
    stack = [(r, 0) for r in reversed(roots)]
    while stack:
        node, depth = stack.pop()
        if id(node) in visited:
            continue
        visited.add(id(node))
        node.depth = depth
        out.append(node)
        node.children.sort(key=lambda n: (n.start_ns, n.span_id))
        stack.extend((c, depth + 1) for c in reversed(node.children))
    return out


def _self_time(node: Node) -> int:
    """Duration minus the union of the children's intervals clipped to the span."""
    covered = 0
    cur_start = cur_end = None
    for child in sorted(node.children, key=lambda c: c.start_ns):
        s, e = max(child.start_ns, node.start_ns), min(child.end_ns, node.end_ns)
        if e <= s:
            continue
        if cur_end is None or s > cur_end:
            if cur_end is not None and cur_start is not None:
                covered += cur_end - cur_start
            cur_start, cur_end = s, e
        else:
            cur_end = max(cur_end, e)
    if cur_end is not None and cur_start is not None:
        covered += cur_end - cur_start
    return max(0, (node.end_ns - node.start_ns) - covered)


def _critical_path(root: Node) -> list[str]:
    path: list[Node] = []
    stack = [(root, root.end_ns)]
    while stack:
        node, bound = stack.pop()
        node.critical = True
        path.append(node)
        cursor = min(node.end_ns, bound)
        for child in sorted(node.children, key=lambda c: (c.end_ns, c.start_ns), reverse=True):
            if cursor <= node.start_ns:
                break
            if child.start_ns >= cursor:
                continue  # overlapped by a later-finishing child already on the path
            child_end = min(child.end_ns, cursor)
            node.critical_ns += cursor - child_end
            stack.append((child, child_end))
            cursor = max(child.start_ns, node.start_ns)
        node.critical_ns += max(0, cursor - node.start_ns)
    return [n.span_id for n in sorted(path, key=lambda n: (n.start_ns, n.depth))]
