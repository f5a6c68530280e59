"""HTTP client of the control-plane API, used by the CLI and the dashboard.

It has a transport seam (any ``httpx.BaseTransport``) so tests can fake the API in a few lines.
Errors come back as :class:`ApiError` carrying the API's stable code and message.
"""

from __future__ import annotations

import json
from typing import Any, Iterator

import httpx

from control_plane.errors import FleetdeckError


class ApiError(FleetdeckError):
    """The API answered with an error (or could not be reached: status 0)."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None) -> None:
        super().__init__(message, details=details)
        self.status = status
        self.code = code


class ApiClient:
    """Thin synchronous client: ``request`` returns decoded JSON or raises ApiError."""

    def __init__(self, base_url: str, token: str | None = None, *, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
                headers: dict | None = None) -> Any:
        try:
            resp = self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"cannot reach the Fleetdeck API at {self._http.base_url}: {exc}") from exc
        if resp.status_code >= 400:
            self._raise_for(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def stream_events(self, path: str, *, params: dict | None = None) -> Iterator[Any]:
        """Follow a server-sent-events route, yielding each event's decoded JSON ``data``."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            with self._http.stream("GET", path, params=clean, timeout=httpx.Timeout(10.0, read=None)) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._raise_for(resp)
                data: list[str] = []
                for line in resp.iter_lines():
                    if line.startswith("data:"):
                        data.append(line[5:].strip())
                    elif not line and data:
                        text = "\n".join(data)
                        data = []
                        try:
                            yield json.loads(text)
                        except ValueError:
                            yield text
        except httpx.HTTPError as exc:
            raise ApiError(0, "unreachable", f"cannot reach the Fleetdeck API at {self._http.base_url}: {exc}") from exc

    @staticmethod
    def _raise_for(resp: httpx.Response) -> None:
        try:
            err = resp.json().get("error", {})
        except ValueError:
            err = {}
        raise ApiError(resp.status_code, err.get("code", "http_error"),
                       err.get("message", f"HTTP {resp.status_code}: {resp.text[:200]}"), err.get("details"))
