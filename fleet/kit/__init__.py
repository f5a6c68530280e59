"""The shared service kit: app factory, telemetry, faults, upstream calls and errors."""

from fleet.kit.app import ServiceKit, create_app, kit_of
from fleet.kit.errors import BadRequest, Conflict, NotFound, ServiceError, UpstreamError
from fleet.kit.faults import FaultConfig, FaultInjector
from fleet.kit.upstream import UpstreamResponse, Upstreams

__all__ = ["BadRequest", "Conflict", "FaultConfig", "FaultInjector", "NotFound", "ServiceError", "ServiceKit",
           "UpstreamError", "UpstreamResponse", "Upstreams", "create_app", "kit_of"]
