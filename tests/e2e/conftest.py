"""The whole local stack for end-to-end tests that do not bring their own.

``stack`` is one ``fleetdeck up`` per test module (free ports, a temporary state dir, shoppers
running), torn down with ``fleetdeck down``; the teardown fails the module if anything it started
is still alive afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from realstack import RealStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealStack]:
    s = RealStack(tmp_path_factory.mktemp("stack"))
    try:
        s.up()
        s.wait_ready()
        yield s
    finally:
        left = s.down()
    assert not left, f"fleetdeck down left processes running: {left}"
