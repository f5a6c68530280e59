"""The shop services. Each module has ``build(settings, **kit_options) -> FastAPI``."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from fleet import SERVICES
from fleet.kit.settings import FleetSettings


def builder(service: str) -> Callable[..., FastAPI]:
    """The ``build`` function of ``service``; raises KeyError naming the known services."""
    if service not in SERVICES:
        raise KeyError(f"unknown service {service!r} (known: {', '.join(SERVICES)})")
    module = importlib.import_module(f"fleet.services.{service}")
    build: Callable[..., FastAPI] = module.build
    return build


def build_service(settings: FleetSettings, **kit_options: Any) -> FastAPI:
    """Build the app of ``settings.service``."""
    return builder(settings.service)(settings, **kit_options)
