"""The idempotency store on its own: claim, in progress, mismatch, replay, release, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_api_support import migrated_store

from control_plane.store.auth_repo import IdempotencyRepo, Reservation, StoredResponse
from control_plane.store.db import make_engine, make_sessionmaker

pytestmark = pytest.mark.component
DAY = timedelta(days=1)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_reservation_lifecycle(kind: str) -> None:
    with migrated_store(kind) as url:
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        try:
            key = ("k", "who", "POST /api/v1/tokens")
            with sessions() as s:
                assert IdempotencyRepo(s).reserve(*key, "h1", DAY) == (Reservation.NEW, None)
            with sessions() as s:
                assert IdempotencyRepo(s).reserve(*key, "h1", DAY)[0] is Reservation.IN_PROGRESS
                assert IdempotencyRepo(s).reserve(*key, "h2", DAY)[0] is Reservation.MISMATCH
                other = ("k", "someone-else", "POST /api/v1/tokens")
                assert IdempotencyRepo(s).reserve(*other, "h1", DAY)[0] is Reservation.NEW
            stored = StoredResponse(201, '{"id": 1}', {"location": "/x"})
            with sessions() as s:
                IdempotencyRepo(s).finish(*key, stored)
            with sessions() as s:
                assert IdempotencyRepo(s).reserve(*key, "h1", DAY) == (Reservation.REPLAY, stored)
                IdempotencyRepo(s).release(*key)
            with sessions() as s:
                assert IdempotencyRepo(s).reserve(*key, "h1", DAY)[0] is Reservation.NEW
                IdempotencyRepo(s).finish(*key, stored)
            with sessions() as s:  # past its lifetime the key is free again, for a new request
                assert IdempotencyRepo(s).reserve(*key, "h3", timedelta(seconds=-1))[0] is Reservation.NEW
        finally:
            engine.dispose()
