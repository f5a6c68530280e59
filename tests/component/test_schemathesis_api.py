"""Schemathesis against the served OpenAPI document, with a token of every role.

For every operation and generated request (bounded examples): the role that the operation declares
(``x-fleetdeck-role``) gets in and its answer matches the document (status, content type, headers,
body schema) and is never a 5xx bug; every role the rule says no to gets 403. Dependencies that are
not running in this test (the fleet runtime, the rollout controller) may answer a declared 503 JSON
error; the collectors are faked at their HTTP boundary so the telemetry routes answer for real.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from test_api_support import Api, running_api

from control_plane.api.roles import Role, role_allows

pytestmark = [pytest.mark.component, pytest.mark.slow]

# Generated examples per operation (each is sent once per role); raise it for a deeper run.
MAX_EXAMPLES = int(os.environ.get("FLEETDECK_SCHEMATHESIS_EXAMPLES", "10"))
CHECKS = [status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]
DEPENDENCY_DOWN = {"temporary_error", "service_unavailable", "dependency_missing"}


def fake_collectors(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path in ("/api/traces", "/api/logs") or path.endswith("/operations"):
        return httpx.Response(200, json={"items": [], "next_cursor": None})
    if path == "/api/logs/tail":
        return httpx.Response(200, content=b'data: {"body": "x"}\n\n', headers={"content-type": "text/event-stream"})
    if path.startswith("/api/traces/"):
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "no such trace"}})
    if path == "/api/service-graph":
        return httpx.Response(200, json={"nodes": [], "edges": []})
    return httpx.Response(200, json=[])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest) -> Iterator[Api]:
    with running_api(request.param, collectors_url="http://collectors.test",
                     collectors_transport=httpx.MockTransport(fake_collectors)) as api:
        yield api


def _document() -> dict[str, Any]:
    """The document the server serves (built the same way; test_served_document_is_this_one checks)."""
    from control_plane.api.app import create_app
    from control_plane.api.context import AppContext
    from control_plane.settings import load_settings

    return create_app(AppContext(settings=load_settings({}), sessions=None)).openapi()  # type: ignore[arg-type]


DOCUMENT = _document()
# (schemathesis.pytest.from_fixture does not work with pytest 9 here, so the schema is built at import)
schema = schemathesis.openapi.from_dict(DOCUMENT)


def test_served_document_is_this_one(served: Api) -> None:
    with httpx.Client(timeout=60) as c:
        assert c.get(served.url + "/api/v1/openapi.json").json() == json.loads(json.dumps(DOCUMENT))


def _not_a_bug(resp: Any, who: str) -> None:
    if resp.status_code < 500:
        return
    code = None
    try:
        code = resp.json().get("error", {}).get("code")
    except ValueError:
        pass
    assert resp.status_code == 503 and code in DEPENDENCY_DOWN, (
        f"{who}: {resp.status_code} {resp.text[:300]}")


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
def test_every_role_gets_what_the_document_promises(case: Any, served: Api) -> None:
    declared = case.operation.definition.raw.get("x-fleetdeck-role")
    required = Role.parse(declared) if declared else None
    method = case.method.upper()
    negative = bool(case.meta is not None and (case.meta.generation.mode.is_negative
                                               or any(c.mode.is_negative for c in case.meta.components.values())))
    for role in Role:
        # The document declares bearer auth, so a case may carry its own Authorization: ours wins.
        case.headers = {**{k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"},
                        "Authorization": f"Bearer {served.store.tokens[role]}"}
        resp = case.call(base_url=served.url, timeout=30)
        who = f"{method} {case.formatted_path} as {role.label}"
        _not_a_bug(resp, who)
        if method != case.operation.method.upper():  # an undocumented method, probed on purpose
            assert resp.status_code == 405, f"{who}: {resp.status_code}, expected 405"
            continue
        if required is not None and not role_allows(role, required, method):
            # Never admitted: refused by role (403), or earlier for a body FastAPI cannot parse (422);
            # either way nothing ran.
            assert resp.status_code in (403, 422), f"{who}: {resp.status_code} (role escalation?) {resp.text[:200]}"
            if not negative and resp.status_code == 422:
                assert resp.json()["error"]["details"].get("in") in ("body", "header"), f"{who}: {resp.text[:200]}"
            continue
        case.validate_response(resp, checks=CHECKS)
