"""Fault injection is exact: counts, windows, validation, and what the middleware does with it."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from fleet.kit.faults import FaultConfig, FaultConfigError, FaultInjector
from fleet.kit.settings import FleetSettings, SettingsError


def fails(injector: FaultInjector, n: int) -> list[int]:
    return [d.n for d in (injector.next_request() for _ in range(n)) if d.fail]


def test_five_percent_fails_exactly_five_of_a_hundred() -> None:
    assert fails(FaultInjector(FaultConfig(error_rate=0.05)), 100) == [20, 40, 60, 80, 100]


@pytest.mark.parametrize("rate", [0.0, 0.01, 0.07, 0.1, 0.125, 0.3, 0.333, 0.5, 0.99, 1.0])
def test_every_window_holds_floor_or_ceil_of_the_rate(rate: float) -> None:
    injector = FaultInjector(FaultConfig(error_rate=rate))
    outcome = [injector.next_request().fail for _ in range(2000)]
    assert sum(outcome[:1000]) == round(1000 * rate)  # decimal rates are exact (0.07 is 7/100)
    for k in (10, 37, 100):
        for start in range(0, 2000 - k, 13):
            window = sum(outcome[start:start + k])
            assert int(k * rate) <= window <= -(-k * rate // 1), (k, start, window)


def test_changing_faults_restarts_the_count() -> None:
    inj = FaultInjector(FaultConfig(error_rate=0.5))
    fails(inj, 3)
    inj.configure(FaultConfig(error_rate=0.25))
    assert inj.count == 0
    assert fails(inj, 8) == [4, 8]


def test_random_mode_is_seeded_and_roughly_right() -> None:
    a = fails(FaultInjector(FaultConfig(error_rate=0.2, error_mode="random", seed=7)), 5000)
    b = fails(FaultInjector(FaultConfig(error_rate=0.2, error_mode="random", seed=7)), 5000)
    assert a == b
    assert 850 < len(a) < 1150


def test_crash_decision_and_leak() -> None:
    inj = FaultInjector(FaultConfig(crash_after=3, leak_kb_per_request=1.5))
    decisions = [inj.next_request() for _ in range(4)]
    assert [d.crash_after_response for d in decisions] == [False, False, True, True]
    assert inj.leaked_bytes == 4 * 1536


@pytest.mark.parametrize("raw, field", [
    ({"error_rate": 1.5}, "error_rate"), ({"error_rate": "x"}, "error_rate"), ({"latency_ms": -1}, "latency_ms"),
    ({"crash_after": 2.5}, "crash_after"), ({"crash_after": True}, "crash_after"), ({"boom": 1}, "boom"),
    ({"error_mode": "chaos"}, "error_mode"), ({"leak_kb_per_request": -3}, "leak_kb_per_request"),
])
def test_invalid_faults_name_the_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(FaultConfigError) as err:
        FaultConfig.from_dict(raw)
    assert err.value.field == field


def test_contract_json_round_trips() -> None:
    raw = {"error_rate": 0.05, "latency_ms": 20.0, "crash_after": 0, "leak_kb_per_request": 0.0}
    assert FaultConfig.from_dict(raw).to_dict() == raw


def test_settings_reject_bad_faults_env() -> None:
    with pytest.raises(SettingsError, match="FLEET_FAULTS"):
        FleetSettings.from_env("cart", {"FLEET_FAULTS": '{"error_rate": 2}'})
    s = FleetSettings.from_env("cart", {"FLEET_FAULTS": '{"error_rate": 0.1}', "FLEET_UPSTREAM_CATALOG_URL": "http://x/",
                                        "FLEET_TELEMETRY": "off"})
    assert s.faults.error_rate == 0.1 and s.upstreams == {"catalog": "http://x"} and not s.telemetry


def _app(tmp_path: Path, **faults: float) -> tuple[object, list[int]]:
    from fleet.services.catalog import build

    exits: list[int] = []
    app = build(FleetSettings(service="catalog", data_dir=tmp_path, faults=FaultConfig(**faults)))  # type: ignore[arg-type]
    app.state.kit.exit = exits.append
    return app, exits


async def test_service_fails_exactly_five_of_a_hundred_and_probes_do_not_count(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, error_rate=0.05)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:  # type: ignore[arg-type]
        codes = []
        for i in range(100):
            await c.get("/healthz")
            await c.get("/readyz")
            codes.append((await c.get("/products/mug")).status_code)
        assert codes.count(500) == 5 and codes.count(200) == 95
        body = (await c.get("/products/mug")).json()
        assert body["id"] == "mug"
        metrics = (await c.get("/metrics")).text
    assert 'route="/products/{product_id}",service="catalog",version="v1"} 5.0' in metrics
    assert "/healthz" not in metrics and "/readyz" not in metrics


async def test_faults_change_at_runtime_and_bad_input_is_400(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:  # type: ignore[arg-type]
        r = await c.put("/_fleet/faults", json={"error_rate": 1.0})
        assert r.status_code == 200 and r.json()["error_rate"] == 1.0
        assert (await c.get("/products")).status_code == 500
        assert (await c.get("/products")).json()["error"]["code"] == "injected_fault"
        bad = await c.put("/_fleet/faults", json={"error_rate": 3})
        assert bad.status_code == 400 and bad.json()["error"]["details"]["field"] == "error_rate"
        assert (await c.put("/_fleet/faults", content=b"{nope")).status_code == 400
        assert (await c.put("/_fleet/faults", json={})).json()["error_rate"] == 0.0  # PUT replaces: healthy again
        assert (await c.get("/products")).status_code == 200
        assert (await c.get("/_fleet/faults")).json() == {"error_rate": 0.0, "latency_ms": 0.0, "crash_after": 0,
                                                          "leak_kb_per_request": 0.0}


async def test_crash_after_exits_after_the_nth_response(tmp_path: Path) -> None:
    app, exits = _app(tmp_path, crash_after=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:  # type: ignore[arg-type]
        assert (await c.get("/products/mug")).status_code == 200
        assert (await c.get("/healthz")).status_code == 200
        assert exits == []
        assert (await c.get("/products/mug")).status_code == 200  # the 2nd is answered, then the process exits
        import asyncio
        await asyncio.sleep(0.05)
    assert exits == [70]


async def test_latency_is_added(tmp_path: Path) -> None:
    app, _ = _app(tmp_path, latency_ms=400)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:  # type: ignore[arg-type]
        import time
        t = time.perf_counter()
        await c.get("/products/mug")
        assert time.perf_counter() - t >= 0.4
        t = time.perf_counter()
        await c.get("/healthz")
        assert time.perf_counter() - t < 0.4  # probes are never delayed (generous bound: the machine may be busy)
