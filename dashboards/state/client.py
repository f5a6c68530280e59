"""The injected API client: states ask this module for a client, tests replace its factory."""

from __future__ import annotations

from collections.abc import Callable

from control_plane.client import ApiClient
from dashboards.config import DashboardSettings, load_settings

ClientFactory = Callable[..., ApiClient]  # (token, *, timeout=seconds) -> ApiClient

_settings: DashboardSettings = load_settings()


DEFAULT_TIMEOUT_S = 5.0


def _default_factory(token: str | None, *, timeout: float = DEFAULT_TIMEOUT_S) -> ApiClient:
    return ApiClient(_settings.api_url, token or None, timeout=timeout)


_factory: ClientFactory = _default_factory


def configure(settings: DashboardSettings) -> None:
    """Use ``settings`` (called once by the app entry point)."""
    global _settings
    _settings = settings


def settings() -> DashboardSettings:
    """The settings in force."""
    return _settings


def set_client_factory(factory: ClientFactory | None) -> None:
    """Replace how clients are made (tests pass one built on ``httpx.MockTransport``); None restores."""
    global _factory
    _factory = factory or _default_factory


def api(token: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> ApiClient:
    """A client authenticated with ``token`` (the caller closes it)."""
    if timeout == DEFAULT_TIMEOUT_S:
        return _factory(token)
    return _factory(token, timeout=timeout)
