"""The CLI front-door commands against a real server."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest
from test_api_support import running_api

from control_plane.api.roles import Role
from control_plane.cli import api_cmds
from control_plane.cli.main import main
from control_plane.client import ApiClient

pytestmark = pytest.mark.component


def test_cli_manages_tokens_users_audit_and_logs_in(capsys: pytest.CaptureFixture[str],
                                                    monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)  # the CLI's state_dir (.fleetdeck) lands here
    with running_api("sqlite") as api:
        monkeypatch.setattr(api_cmds, "make_api_client",
                            lambda: ApiClient(api.url, api.store.tokens[Role.ADMIN]))
        assert main(["token", "create", "--role", "deployer", "--name", "ci", "--expires", "30d"]) == 0
        secret = [line for line in capsys.readouterr().out.splitlines() if line.startswith("fd_")][0]
        assert main(["--json", "token", "list"]) == 0
        listed = json.loads(capsys.readouterr().out)
        ci = next(t for t in listed if t["name"] == "ci")
        assert "token" not in ci and ci["role"] == "deployer" and ci["expires_at"]
        assert main(["token", "revoke", ci["id"]]) == 0
        capsys.readouterr()
        assert main(["token", "revoke", ci["id"]]) == 1
        assert "already revoked" in capsys.readouterr().err

        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
        assert main(["user", "create", "carol", "--role", "operator", "--password-stdin"]) == 0
        assert main(["user", "list"]) == 0
        assert "carol" in capsys.readouterr().out
        assert main(["audit", "--actor", "admin-fixture", "--action", "tokens", "--since", "1h", "--json"]) == 0
        trail = json.loads(capsys.readouterr().out)
        assert {r["status_code"] for r in trail} >= {201, 200, 409}

        monkeypatch.setattr("sys.stdin", io.StringIO("a-long-enough-password\n"))
        assert main(["login", "--username", "carol", "--password-stdin"]) == 0
        assert "logged in as carol (operator)" in capsys.readouterr().out
        token_file = tmp_path / ".fleetdeck" / "cli-token"
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        with ApiClient(api.url, token_file.read_text().strip()) as client:
            me = client.get("/api/v1/auth/me")
        assert me["name"] == "carol" and me["kind"] == "session"

        monkeypatch.setattr(api_cmds, "make_api_client", lambda: ApiClient(api.url, secret))
        assert main(["traces"]) == 1  # revoked token
        assert "was revoked" in capsys.readouterr().err
