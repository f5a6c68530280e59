"""``python -m fleet <service>`` refuses a bad command line or environment before anything listens."""

from __future__ import annotations

import pytest

from fleet.__main__ import main


@pytest.mark.parametrize("argv, code, needle", [
    ([], 2, "usage: python -m fleet <service>"),
    (["--help"], 0, "services: frontend, catalog"),
    (["nope"], 2, "unknown service 'nope'"),
    (["cart", "extra"], 2, "usage"),
])
def test_command_line(argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == code
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("var, value, needle", [
    ("FLEET_FAULTS", '{"error_rate": 2}', "FLEET_FAULTS is invalid: error_rate must be between 0 and 1"),
    ("FLEET_FAULTS", "{oops", "FLEET_FAULTS is invalid"),
    ("FLEET_PORT", "99999", "FLEET_PORT must be 0..65535"),
    ("FLEET_TELEMETRY", "maybe", "FLEET_TELEMETRY must be 'on' or 'off'"),
    ("FLEET_LOG_LEVEL", "chatty", "FLEET_LOG_LEVEL must be DEBUG"),
])
def test_bad_environment(var: str, value: str, needle: str, monkeypatch: pytest.MonkeyPatch,
                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(var, value)
    assert main(["cart"]) == 2
    assert needle in capsys.readouterr().err
