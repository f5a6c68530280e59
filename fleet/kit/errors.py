"""Errors of fleet services and their JSON shape (docs/CONTRACTS.md, "Errors").

Hierarchy::

    ServiceError                 any error answered as {"error": {code, message, details}}
    ├── BadRequest     (400)     invalid input; details.field names the field
    ├── NotFound       (404)
    ├── Conflict       (409)
    └── UpstreamError            a call to another service failed
        ├── UpstreamUnavailable (503)  could not connect / timed out
        └── UpstreamFailed      (502)  the upstream answered 5xx or garbage

Third-party errors (httpx) are translated at the boundary in fleet/kit/upstream.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ServiceError(Exception):
    """An error a fleet service answers with a stable code and a human message."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the contract."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ServiceError):
    status, code = 400, "bad_request"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
        details = dict(details or {})
        if field:
            details["field"] = field
        super().__init__(message, code=code, details=details)


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Conflict(ServiceError):
    status, code = 409, "conflict"


class UpstreamError(ServiceError):
    status, code = 502, "upstream_failed"


class UpstreamUnavailable(UpstreamError):
    status, code = 503, "upstream_unavailable"


class UpstreamFailed(UpstreamError):
    status, code = 502, "upstream_failed"


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    """A JSON error response in the contract's shape."""
    return JSONResponse({"error": {"code": code, "message": message, "details": details or {}}}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Answer ServiceError, validation and HTTP errors as contract JSON; never a 500 for bad input."""

    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return JSONResponse(exc.body(), status_code=exc.status)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(loc) or "body"
        return error_response(400, "invalid_request", f"{field}: {first.get('msg', 'invalid')}",
                              {"field": field})

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
