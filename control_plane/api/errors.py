"""Turn every error into the one JSON shape of the API: ``{"error": {code, message, details}}``.

    FleetdeckError (control_plane.errors)      → its own status (NotFound 404, Validation 422, ...)
    ├── Unauthorized     401  no, bad, expired or revoked credentials
    ├── Forbidden        403  credentials fine, role too small
    ├── PayloadTooLarge  413
    ├── RateLimited      429  with Retry-After
    └── ServiceUnavailable 503  a dependency (collectors, Prometheus) does not answer
    RequestValidationError (FastAPI)           → 422 naming the field (never echoing the input)
    HTTPException (Starlette)                  → its status, code from the status
Anything else is a bug: the front door logs it and answers 500 (see frontdoor.py).
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from control_plane.api.conventions import PreconditionFailed, PreconditionRequired, retry_after_header
from control_plane.errors import (
    ConfigError,
    ConflictError,
    DependencyMissing,
    FleetdeckError,
    NotFoundError,
    PermanentError,
    TemporaryError,
    ValidationError,
)


class Unauthorized(FleetdeckError):
    code = "unauthorized"


class Forbidden(FleetdeckError):
    code = "forbidden"


class PayloadTooLarge(FleetdeckError):
    code = "payload_too_large"


class RateLimited(FleetdeckError):
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(FleetdeckError):
    code = "service_unavailable"


STATUS: list[tuple[type[FleetdeckError], int]] = [
    (Unauthorized, 401), (Forbidden, 403), (PayloadTooLarge, 413), (RateLimited, 429),
    (ServiceUnavailable, 503), (NotFoundError, 404), (ValidationError, 422), (ConflictError, 409),
    (PreconditionFailed, 412), (PreconditionRequired, 428), (TemporaryError, 503),
    (DependencyMissing, 503), (PermanentError, 502), (ConfigError, 500),
]


def status_of(exc: FleetdeckError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(code: str, message: str, details: dict | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str, details: dict | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


def error_bytes(code: str, message: str, details: dict | None = None) -> bytes:
    return json.dumps(error_body(code, message, details)).encode()


def _fleetdeck_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FleetdeckError)
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    elif isinstance(exc, TemporaryError):
        headers["Retry-After"] = retry_after_header(exc.delay)
    elif isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if status in (401, 403):
        request.state.auth_refusal = exc.message
    return error_response(status, exc.code, exc.message, exc.details, headers or None)


def _field_of(loc: tuple | list) -> tuple[str, str]:
    """(field, location) of a pydantic error location such as ("body", "weights", "v1")."""
    parts = [str(p) for p in loc]
    where = parts[0] if parts else "request"
    rest = parts[1:] if where in ("body", "query", "path", "header", "cookie") else parts
    return (".".join(rest) if rest else where), where


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for err in exc.errors():
        field, where = _field_of(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            field = "body"
        # Never echo err["input"]: it may hold a password.
        problems.append({"field": field, "in": where, "message": str(err.get("msg", "invalid"))})
    first = problems[0] if problems else {"field": "request", "in": "request", "message": "invalid request"}
    message = f"{first['field']}: {first['message']}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return error_response(422, "validation_error", message,
                          {"field": first["field"], "in": first["in"], "errors": problems})


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 406: "not_acceptable", 409: "conflict", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited"}


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and "parsing the body" in str(exc.detail):
        # FastAPI's answer to a body it cannot decode: bad input like any other, so 422 naming it.
        return error_response(422, "validation_error", "body: not valid JSON in UTF-8",
                              {"field": "body", "in": "body", "errors": []})
    code = HTTP_CODES.get(exc.status_code, "http_error")
    if exc.status_code == 404 and exc.detail == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    else:
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers; the catch-all for bugs lives in the front-door middleware."""
    app.add_exception_handler(FleetdeckError, _fleetdeck_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


# --- OpenAPI: the error shape, declared where it can happen ------------------------------------

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                       "details": {"type": "object"}},
    }},
}

_DESCRIPTIONS = {400: "Bad request", 401: "Missing, malformed, expired or revoked credentials",
                 403: "Role does not allow this", 404: "Not found", 409: "Conflict",
                 412: "If-Match does not match the current ETag", 413: "Request body too large",
                 422: "Invalid input (details.field names it)", 428: "If-Match required",
                 429: "Rate limited (see Retry-After)", 502: "A dependency refused",
                 503: "A dependency is unreachable"}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries for a route: ``@router.put(..., responses=error_responses(404, 412))``."""
    return {s: {"description": _DESCRIPTIONS.get(s, HTTPStatus(s).phrase),
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
            for s in statuses}
