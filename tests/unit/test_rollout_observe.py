"""From Prometheus samples to judge inputs: exact increases, same window for both arms, and every
way the data can be unusable (unreachable, no series, counter reset, no new scrape)."""

from __future__ import annotations

from datetime import datetime

from control_plane.domain import judge as J
from control_plane.errors import TemporaryError
from control_plane.interfaces import Sample
from control_plane.rollouts import observe


class Source:
    def __init__(self) -> None:
        self.values: dict[str, list[Sample]] = {}
        self.down = False
        self.asked: list[str] = []

    def set(self, at: float, req: dict, err: dict, fast: dict) -> None:
        when = datetime.fromtimestamp(at)
        self.values = {
            "requests": [Sample({"version": v, "instance": f"{v}-{i}"}, n / 2, when) for v, n in req.items() for i in (1, 2)],
            "errors": [Sample({"version": v}, n, when) for v, n in err.items()],
            "newest": [Sample({"version": v}, at, when) for v in req],
            "buckets": [s for v in req for s in (Sample({"version": v, "le": "0.1"}, fast[v], when),
                                                 Sample({"version": v, "le": "+Inf"}, req[v], when))],
        }

    def instant(self, promql: str, at: datetime | None = None) -> list[Sample]:
        self.asked.append(promql)
        if self.down:
            raise TemporaryError("connection refused")
        q = observe.queries("cart", "v1", "v2")
        key = next(k for k, v in q.items() if v == promql)
        return self.values.get(key, [])

    def healthy(self) -> bool:
        return not self.down


def test_two_snapshots_give_the_exact_increase_of_both_arms():
    src = Source()
    src.set(100, {"v1": 1000, "v2": 100}, {"v1": 2, "v2": 1}, {"v1": 950, "v2": 95})
    a = observe.snapshot(src, "cart", "v1", "v2", now=100.5)
    src.set(102, {"v1": 1180, "v2": 120}, {"v1": 2, "v2": 3}, {"v1": 1120, "v2": 100})
    b = observe.snapshot(src, "cart", "v1", "v2", now=102.5)
    assert isinstance(a, observe.Snapshot) and isinstance(b, observe.Snapshot)
    o = observe.interval(a, b, "v1", "v2")
    assert isinstance(o, J.Observation)
    assert (o.start, o.end) == (100, 102)
    assert (o.canary.requests, o.canary.errors, o.stable.requests, o.stable.errors) == (20, 2, 180, 0)
    assert o.canary.buckets == ((0.1, 5), (float("inf"), 20))
    assert all(q.startswith(("sum by", "min by")) for q in src.asked)


def test_no_new_scrape_is_no_interval():
    src = Source()
    src.set(100, {"v1": 10, "v2": 1}, {}, {"v1": 10, "v2": 1})
    a = observe.snapshot(src, "cart", "v1", "v2", now=100.5)
    b = observe.snapshot(src, "cart", "v1", "v2", now=101.5)
    assert observe.interval(a, b, "v1", "v2") is None  # type: ignore[arg-type]


def test_unusable_data_says_why():
    src = Source()
    src.down = True
    gone = observe.snapshot(src, "cart", "v1", "v2", now=1)
    assert isinstance(gone, J.Missing) and gone.kind is J.MissingKind.UNREACHABLE and gone.queries
    src.down = False
    src.set(100, {"v1": 10}, {}, {"v1": 10})
    none = observe.snapshot(src, "cart", "v1", "v2", now=100)
    assert isinstance(none, J.Missing) and none.kind is J.MissingKind.NO_DATA and "v2" in none.detail
    src.set(100, {"v1": 1000, "v2": 100}, {}, {"v1": 1000, "v2": 100})
    a = observe.snapshot(src, "cart", "v1", "v2", now=100)
    src.set(102, {"v1": 1100, "v2": 4}, {}, {"v1": 1100, "v2": 4})  # a canary instance restarted
    b = observe.snapshot(src, "cart", "v1", "v2", now=102)
    reset = observe.interval(a, b, "v1", "v2")  # type: ignore[arg-type]
    assert isinstance(reset, J.Missing) and reset.kind is J.MissingKind.GAP


def test_extra_check_queries_expand_and_read_one_value():
    assert observe.expand('avg(x{service="$service",version="$canary"})', "cart", "v1", "v2") == \
        'avg(x{service="cart",version="v2"})'


def test_a_fresh_canary_without_series_counts_from_zero_only_if_stable_was_scraped_before_its_traffic():
    src = Source()
    src.set(100, {"v1": 1000}, {}, {"v1": 950})  # the canary has served nothing yet: no series
    assert isinstance(observe.snapshot(src, "cart", "v1", "v2", now=100.5, canary_zero_before=99.0), J.Missing)
    base = observe.snapshot(src, "cart", "v1", "v2", now=100.5, canary_zero_before=100.2)
    assert isinstance(base, observe.Snapshot) and base.at == 100 and base.requests["v2"] == 0
    src.set(102, {"v1": 1090, "v2": 10}, {"v2": 1}, {"v1": 1040, "v2": 9})
    cur = observe.snapshot(src, "cart", "v1", "v2", now=102.5)
    o = observe.interval(base, cur, "v1", "v2")  # type: ignore[arg-type]
    assert isinstance(o, J.Observation)
    assert (o.canary.requests, o.canary.errors, o.stable.requests) == (10, 1, 90)
    assert o.canary.buckets == ((0.1, 9), (float("inf"), 10))


def test_counts_read_across_a_scrape_are_read_again():
    src = Source()
    src.set(100, {"v1": 1000, "v2": 100}, {}, {"v1": 1000, "v2": 100})
    real = src.instant
    moved: list[bool] = []

    def instant(promql, at=None):  # a scrape lands right after the first read of the request counts
        out = real(promql, at)
        if not moved:
            moved.append(True)
            src.set(102, {"v1": 1100, "v2": 110}, {}, {"v1": 1100, "v2": 110})
        return out

    src.instant = instant  # type: ignore[method-assign]
    snap = observe.snapshot(src, "cart", "v1", "v2", now=102.5)
    assert isinstance(snap, observe.Snapshot)
    assert snap.requests == {"v1": 1100, "v2": 110} and snap.buckets["v1"][-1] == (float("inf"), 1100)
