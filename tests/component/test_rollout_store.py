"""Rollout persistence on both store kinds (migrated SQLite and a fresh PostgreSQL database):
optimistic locking under concurrent writers, one active rollout per service, history order."""

from __future__ import annotations

import threading

import pytest
from test_api_support import STORES, migrated_store

from control_plane.domain import rollout as R
from control_plane.errors import ConflictError
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.rollout_repo import RolloutRepo

pytestmark = pytest.mark.component

PLAN = R.Plan(R.parse_spec({"service": "cart", "version": "v2"}), "v1", 2)


@pytest.fixture(params=STORES)
def repo(request):
    with migrated_store(request.param) as url:
        engine = make_engine(url)
        try:
            yield RolloutRepo(make_sessionmaker(engine))
        finally:
            engine.dispose()


def test_concurrent_transitions_from_one_read_give_exactly_one_winner(repo):
    first = R.start(PLAN, 1.0)
    stored = repo.create(PLAN, first.state, first.reason, "ci", 1.0)
    nxt = R.transition(PLAN, stored.state, R.Tick(2.0))
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def writer() -> None:
        barrier.wait()
        try:
            repo.save(stored.id, stored.version, nxt.state, nxt.reason)
            outcomes.append("won")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict"] * 3 + ["won"]
    assert [e["seq"] for e in repo.events(stored.id)] == [1, 2]
    assert repo.get(stored.id).version == stored.version + 1


def test_one_active_rollout_per_service_and_retry_respects_it(repo):
    first = R.start(PLAN, 1.0)
    a = repo.create(PLAN, first.state, first.reason, "ci", 1.0)
    with pytest.raises(ConflictError) as err:
        repo.create(PLAN, first.state, first.reason, "ci", 2.0)
    assert err.value.details["rollout_id"] == a.id
    ended = R.RolloutState(phase=R.Phase.ROLLED_BACK, reason="aborted", updated_at=3.0)
    v = repo.save(a.id, a.version, ended, "rolled back")
    assert repo.active_for("cart") is None
    b = repo.create(PLAN, first.state, first.reason, "ci", 4.0)
    with pytest.raises(ConflictError):  # retrying the first would make two active rollouts
        repo.save(a.id, v, R.RolloutState(attempt=2, updated_at=5.0), "retry #2")
    assert repo.get(a.id).state.phase is R.Phase.ROLLED_BACK
    assert [r.id for r in repo.active()] == [b.id]
    assert {r.id for r in repo.list("cart")} == {a.id, b.id}
