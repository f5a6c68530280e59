"""Trace trees: structure, self time, critical path, and bad data (orphans, cycles, deep chains)."""

from __future__ import annotations

from collectors.query.tree import build_tree


def test_self_time_subtracts_the_union_of_children() -> None:
    tree = build_tree([("r", "", 0, 100), ("a", "r", 10, 40), ("b", "r", 30, 60), ("c", "r", 90, 150)])
    nodes = {n.span_id: n for n in tree.order}
    assert nodes["r"].self_ns == 100 - (60 - 10) - (100 - 90)
    assert [n.span_id for n in tree.order] == ["r", "a", "b", "c"]
    assert [n.depth for n in tree.order] == [0, 1, 1, 1]


def test_critical_path_follows_the_last_finishing_children() -> None:
    # r: 0..100; a: 0..30 then b: 35..95 (sequential); c: 40..50 runs in parallel with b and is not critical.
    tree = build_tree([("r", "", 0, 100), ("a", "r", 0, 30), ("b", "r", 35, 95), ("c", "r", 40, 50),
                       ("b1", "b", 40, 90)])
    assert set(tree.critical_path) == {"r", "a", "b", "b1"}
    nodes = {n.span_id: n for n in tree.order}
    assert not nodes["c"].critical
    assert sum(n.critical_ns for n in tree.order) == 100  # the path covers the root exactly once
    assert nodes["r"].critical_ns == 5 + 5  # 30..35 and 95..100


def test_children_outliving_their_parent_are_clipped() -> None:
    tree = build_tree([("r", "", 0, 50), ("a", "r", 10, 80)])
    nodes = {n.span_id: n for n in tree.order}
    assert nodes["r"].self_ns == 10 and nodes["a"].critical and sum(n.critical_ns for n in tree.order) == 50


def test_orphans_become_roots_and_cycles_do_not_hang() -> None:
    tree = build_tree([("a", "missing", 0, 10), ("b", "c", 0, 5), ("c", "b", 1, 4), ("d", "a", 2, 3)])
    assert {n.span_id for n in tree.order} == {"a", "b", "c", "d"}
    assert "a" in [r.span_id for r in tree.roots]


def test_a_very_deep_trace_does_not_recurse() -> None:
    spans = [(f"s{i}", f"s{i - 1}" if i else "", i, 20_000 - i) for i in range(5000)]
    tree = build_tree(spans)
    assert tree.order[-1].depth == 4999 and len(tree.critical_path) == 5000
