"""The control plane's exceptions.

    FleetdeckError
    ├── ConfigError            bad settings or manifest; fails at start-up
    ├── NotFoundError          unknown service, version, instance, rollout ...
    ├── ValidationError        bad input, rejected whole; names the field
    ├── ConflictError          concurrent change lost (optimistic locking) or state forbids it
    ├── DependencyMissing      an external binary (haproxy, prometheus) is not installed
    ├── PermanentError         an external system refused; retrying will not help
    └── TemporaryError         an external system is unreachable or busy; retry after ``delay``

Third-party errors are translated at the boundary: ``raise TemporaryError(...) from exc``.
"""

from __future__ import annotations


class FleetdeckError(Exception):
    """Base of every error the control plane raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class ConfigError(FleetdeckError):
    code = "config_error"


class NotFoundError(FleetdeckError):
    code = "not_found"


class ValidationError(FleetdeckError):
    code = "validation_error"

    def __init__(self, message: str, *, field: str | None = None, details: dict | None = None) -> None:
        merged = dict(details or {})
        if field is not None:
            merged.setdefault("field", field)
        super().__init__(message, details=merged)
        self.field = field


class ConflictError(FleetdeckError):
    code = "conflict"


class DependencyMissing(FleetdeckError):
    code = "dependency_missing"


class PermanentError(FleetdeckError):
    code = "permanent_error"


class TemporaryError(FleetdeckError):
    code = "temporary_error"

    def __init__(self, message: str, *, delay: float = 1.0, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.delay = delay
