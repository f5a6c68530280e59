"""CLI helpers of the front-door commands, and its error path, against a fake API (transport seam)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from control_plane.cli import api_cmds
from control_plane.cli.main import main
from control_plane.client import ApiClient
from control_plane.errors import ValidationError


def test_durations_and_since() -> None:
    assert api_cmds.parse_duration("30d", field="expires") == 30 * 86400
    assert api_cmds.parse_duration("15m", field="expires") == 900
    with pytest.raises(ValidationError, match="30d"):
        api_cmds.parse_duration("soon", field="expires")
    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert api_cmds.parse_since("2h", now=now) == "2026-01-02T10:00:00+00:00"
    assert api_cmds.parse_since("2026-01-01T00:00:00Z") == "2026-01-01T00:00:00+00:00"
    with pytest.raises(ValidationError):
        api_cmds.parse_since("yesterday")


def test_table_aligns_and_marks_empty() -> None:
    lines: list[str] = []
    api_cmds.table([{"id": "a", "when": "2026-01-02T03:04:05.123Z", "x": None}, {"id": "bbb", "x": True}],
                   ("id", "when", "x"), out=lines.append)
    assert lines[0].split() == ["ID", "WHEN", "X"]
    assert lines[1].split() == ["a", "2026-01-02", "03:04:05Z", "-"]
    assert lines[2].split() == ["bbb", "-", "yes"]


def _fake(handler) -> None:  # type: ignore[no-untyped-def]
    api_cmds.make_api_client = lambda: ApiClient("http://api.test", "tok", transport=httpx.MockTransport(handler))


@pytest.fixture(autouse=True)
def restore_client():  # type: ignore[no-untyped-def]
    original = api_cmds.make_api_client
    yield
    api_cmds.make_api_client = original


def test_token_create_prints_the_secret_once(capsys: pytest.CaptureFixture[str]) -> None:
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"id": "0123456789abcdef", "name": "ci", "role": "deployer",
                                         "expires_at": None, "token": "fd_secret"})

    _fake(handler)
    assert main(["token", "create", "--role", "deployer", "--name", "ci", "--expires", "30d"]) == 0
    out = capsys.readouterr()
    assert out.out.count("fd_secret") == 1 and "shown once" in out.err
    assert sent[0].headers["authorization"] == "Bearer tok"
    assert b'"expires_in_s":2592000' in sent[0].content.replace(b" ", b"")


def test_api_errors_exit_non_zero_with_the_api_message(capsys: pytest.CaptureFixture[str]) -> None:
    _fake(lambda r: httpx.Response(403, json={"error": {"code": "forbidden", "message": "needs admin",
                                                        "details": {}}}))
    assert main(["token", "list"]) == 1
    assert "needs admin" in capsys.readouterr().err


def test_json_for_scripts(capsys: pytest.CaptureFixture[str]) -> None:
    _fake(lambda r: httpx.Response(200, json={"items": [{"name": "a", "role": "viewer"}], "next_cursor": None}))
    assert main(["--json", "user", "list"]) == 0
    assert '"name": "a"' in capsys.readouterr().out
    assert main(["user", "list", "--json"]) == 0
    assert '"role": "viewer"' in capsys.readouterr().out


def test_logs_follow_decodes_server_sent_events(capsys: pytest.CaptureFixture[str]) -> None:
    body = b'data: {"service":"cart","severity":"ERROR","body":"boom"}\n\ndata: {"body":"two"}\n\n'
    _fake(lambda r: httpx.Response(200, content=body, headers={"content-type": "text/event-stream"}))
    assert main(["logs", "--follow"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("boom") and "cart" in lines[0] and lines[1].endswith("two")
