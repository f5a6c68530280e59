"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
import socket

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def pg_url() -> str:
    """URL of the PostgreSQL server that CI and dev machines run locally (trust auth)."""
    return os.environ.get("FLEETDECK_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
