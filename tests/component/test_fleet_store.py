"""The fleet store on SQLite and PostgreSQL: desired state, instance records, optimistic locking."""

from __future__ import annotations

import threading

import pytest
from test_api_support import migrated_store

from control_plane.errors import ConflictError, NotFoundError
from control_plane.store.db import make_engine, make_sessionmaker
from control_plane.store.fleet_repo import FleetRepo, InstanceRecord

pytestmark = pytest.mark.component


@pytest.fixture(params=["sqlite", "postgresql"])
def repo(request, pg_url):  # type: ignore[no-untyped-def]
    with migrated_store(request.param, pg_url) as url:
        engine = make_engine(url)
        try:
            yield FleetRepo(make_sessionmaker(engine))
        finally:
            engine.dispose()


def test_versions_weights_and_instances_round_trip(repo: FleetRepo) -> None:
    assert not repo.has_services()
    v1, rv = repo.upsert_version("cart", "v1", 2, {"error_rate": 0.0}, weight_if_new=100)
    assert (v1.weight, rv) == (100, 1)
    repo.upsert_version("cart", "v2", 1, {"error_rate": 0.05})
    rv = repo.set_weights("cart", {"v1": 90, "v2": 10}, expected=2)
    assert rv == 3 and [(v.version, v.weight, v.faults) for v in repo.versions("cart")] == \
        [("v1", 90, {"error_rate": 0.0}), ("v2", 10, {"error_rate": 0.05})]
    with pytest.raises(ConflictError):
        repo.set_weights("cart", {"v1": 100}, expected=2)
    repo.save_instance(InstanceRecord("cart-v1-1", "cart", "v1", 1, 40001, 123, 1.5, 0))
    repo.save_instance(InstanceRecord("cart-v1-1", "cart", "v1", 1, 40002, 456, 2.5, 1))
    assert repo.instances() == [InstanceRecord("cart-v1-1", "cart", "v1", 1, 40002, 456, 2.5, 1)]
    repo.delete_instance("cart-v1-1")
    assert repo.instances() == []
    assert repo.delete_version("cart", "v2") == 4
    with pytest.raises(NotFoundError):
        repo.delete_version("cart", "v2")


def test_two_writers_with_the_same_read_give_one_change(repo: FleetRepo) -> None:
    repo.upsert_version("cart", "v1", 1, {}, weight_if_new=100)
    repo.upsert_version("cart", "v2", 1, {})
    seen = repo.resource_version("cart")
    results: list[str] = []
    barrier = threading.Barrier(2)

    def write(weights: dict[str, int]) -> None:
        barrier.wait()
        try:
            repo.set_weights("cart", weights, expected=seen)
            results.append("ok")
        except ConflictError:
            results.append("conflict")

    threads = [threading.Thread(target=write, args=(w,)) for w in ({"v1": 90, "v2": 10}, {"v1": 10, "v2": 90})]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict", "ok"]
    assert repo.resource_version("cart") == seen + 1
