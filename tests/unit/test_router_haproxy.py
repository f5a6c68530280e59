"""HAProxy router logic against a fake admin socket: config rendering, server names, weights, sync."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fleet_fakes import manifest

from control_plane.domain.fleet import Endpoint
from control_plane.errors import DependencyMissing, PermanentError
from control_plane.metrics.local_prometheus import LocalPrometheus
from control_plane.metrics.local_prometheus import render_config as render_prometheus
from control_plane.routers.haproxy import (
    Adoption,
    HAProxyRouter,
    ServerState,
    decide_adoption,
    parse_servers_state,
    render_config,
    server_name,
    version_of_server,
)
from control_plane.settings import load_settings

HEADER = ("# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight "
          "srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state "
          "srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port "
          "srv_check_addr srv_agent_addr srv_agent_port")


class FakeAdmin(HAProxyRouter):
    """The router with its admin socket replaced by an in-memory backend table."""

    def __init__(self, settings, m) -> None:  # type: ignore[no-untyped-def]
        super().__init__(settings, m)
        self.table: dict[str, dict[str, ServerState]] = {f"svc_{n}": {} for n in m.order}
        self.log: list[str] = []

    def command(self, cmd: str, timeout: float = 5.0) -> str:
        self.log.append(cmd)
        words = cmd.split()
        if cmd.startswith("show servers state"):
            rows = [f"1 {words[3]} {i} {s.name} {s.addr} 2 {s.admin_state} {s.weight} {s.weight} 0 1 0 1 6 0 0 0 - "
                    f"{s.port} - 0 0 - - 0" for i, s in enumerate(self.table[words[3]].values())]
            return "1\n" + HEADER + "\n" + "\n".join(rows) + "\n"
        if words[0] == "shutdown":
            return ""
        be, _, name = words[2].partition("/")
        servers = self.table[be]
        if words[0] == "add":
            host, _, port = words[3].partition(":")
            servers[name] = ServerState(name, host, int(port), int(words[5]), 1, 2)
        elif words[:2] == ["enable", "server"]:
            servers[name] = ServerState(name, servers[name].addr, servers[name].port, servers[name].weight, 0, 2)
        elif words[:2] == ["set", "server"]:
            if name not in servers:
                raise PermanentError("No such server.")
            s = servers[name]
            if words[3] == "weight":
                servers[name] = ServerState(name, s.addr, s.port, int(words[4]), s.admin_state, 2)
            elif words[3:5] == ["state", "maint"]:
                servers[name] = ServerState(name, s.addr, s.port, s.weight, 1, 2)
            elif words[3:5] == ["state", "drain"]:
                servers[name] = ServerState(name, s.addr, s.port, s.weight, 8, 2)
            elif words[3:5] == ["state", "ready"]:
                servers[name] = ServerState(name, s.addr, s.port, s.weight, 0, 2)
        elif words[:2] == ["del", "server"]:
            del servers[name]
        return ""


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings({}, state_dir=tmp_path, edge_port=18080, listener_port_base=18100,
                         haproxy_stats_port=18404, api_port=17000, prometheus_port=19090)


def test_config_has_edge_stats_exporter_socket_and_one_listener_per_service(settings, tmp_path) -> None:
    cfg = render_config(settings, manifest(), tmp_path / "admin.sock")
    assert f"stats socket {tmp_path / 'admin.sock'} mode 600 level admin" in cfg
    assert "bind 127.0.0.1:18404" in cfg and "use-service prometheus-exporter if { path /metrics }" in cfg
    assert "frontend edge\n    bind 127.0.0.1:18080\n    default_backend svc_frontend" in cfg
    for i, name in enumerate(["frontend", "cart", "catalog"]):
        assert f"frontend listen_{name}\n    bind 127.0.0.1:{18100 + i}\n    default_backend svc_{name}" in cfg
        assert f"backend svc_{name}\n" in cfg
    assert cfg.count("balance roundrobin") == 3
    assert "$" not in cfg


def test_server_names_follow_the_contract() -> None:
    assert server_name("cart", "cart-v2-1") == "v2__1"
    assert server_name("cart", "cart-v2.1-rc-3") == "v2.1-rc__3"
    assert server_name("shop-api", "shop-api-v1-12") == "v1__12"
    assert version_of_server("v2.1-rc__3") == "v2.1-rc"


def test_parse_servers_state() -> None:
    text = "1\n" + HEADER + "\n3 svc_cart 1 v1__1 127.0.0.1 2 0 256 256 5 6 3 4 6 0 0 0 - 9991 - 0 0 - - 0\n"
    assert parse_servers_state(text) == [ServerState("v1__1", "127.0.0.1", 9991, 256, 0, 2)]


def test_sync_adds_weights_and_removes_servers(settings) -> None:
    r = FakeAdmin(settings, manifest())
    r.set_weights("cart", {"v1": 90, "v2": 10})
    r.sync_endpoints("cart", {"v1": [Endpoint("cart-v1-1", "127.0.0.1", 9001), Endpoint("cart-v1-2", "127.0.0.1", 9002)],
                              "v2": [Endpoint("cart-v2-1", "127.0.0.1", 9003)]})
    srv = r.table["svc_cart"]
    assert {n: s.weight for n, s in srv.items()} == {"v1__1": 256, "v1__2": 256, "v2__1": 57}
    assert "add server svc_cart/v2__1 127.0.0.1:9003 weight 57 check inter 2000 fall 2 rise 1" in r.log
    assert r.weights("cart") == {"v1": 90, "v2": 10}
    r.sync_endpoints("cart", {"v1": [Endpoint("cart-v1-1", "127.0.0.1", 9001)], "v2": []})
    assert list(r.table["svc_cart"]) == ["v1__1"]
    assert r.log.index("set server svc_cart/v1__2 state maint") < r.log.index("del server svc_cart/v1__2")
    assert r.weights("cart") == {"v1": 100}


def test_moved_instance_is_replaced_and_drain_sets_drain_state(settings) -> None:
    r = FakeAdmin(settings, manifest())
    r.sync_endpoints("cart", {"v1": [Endpoint("cart-v1-1", "127.0.0.1", 9001)]})
    r.sync_endpoints("cart", {"v1": [Endpoint("cart-v1-1", "127.0.0.1", 9009)]})
    assert r.table["svc_cart"]["v1__1"].port == 9009
    r.drain("cart", "cart-v1-1")
    assert r.table["svc_cart"]["v1__1"].admin_state == 8


def test_versions_without_weights_share_equally(settings) -> None:
    r = FakeAdmin(settings, manifest())
    r.sync_endpoints("cart", {"v1": [Endpoint("cart-v1-1", "127.0.0.1", 9001)]})
    assert r.table["svc_cart"]["v1__1"].weight == 256


def test_missing_binaries_say_how_to_install(settings) -> None:
    s = load_settings({}, state_dir=settings.state_dir, haproxy_bin="no-such-haproxy",
                      prometheus_bin="no-such-prometheus")
    with pytest.raises(DependencyMissing, match="install it with: apt-get install haproxy"):
        HAProxyRouter(s, manifest()).start()
    with pytest.raises(DependencyMissing, match="install it with: apt-get install prometheus"):
        LocalPrometheus(s).start()


def test_prometheus_config_uses_http_sd_and_the_scrape_interval(settings) -> None:
    cfg = render_prometheus(settings, "http://127.0.0.1:17000/api/v1/sd/prometheus")
    assert "scrape_interval: 2000ms" in cfg
    assert "http_sd_configs:\n      - url: http://127.0.0.1:17000/api/v1/sd/prometheus" in cfg


# --- adopt the HAProxy an earlier control plane left running, or restart it -------------------------
CFG = "/state/haproxy/haproxy.cfg"
OURS = ["haproxy", "-db", "-f", CFG]


def adoption(**over: Any) -> Adoption:
    facts: dict[str, Any] = {"pid": 4242, "alive": True, "cmdline": OURS, "config_paths": [CFG],
                             "running_config": "cfg", "rendered_config": "cfg", "socket_answers": True}
    facts.update(over)
    return decide_adoption(**facts)


def test_a_live_haproxy_of_this_state_dir_with_the_same_config_that_answers_is_adopted() -> None:
    d = adoption()
    assert d.adopt and "4242" in d.reason


@pytest.mark.parametrize("over, why", [
    ({"pid": None}, "no HAProxy pidfile"),
    ({"alive": False}, "not running"),
    ({"cmdline": ["haproxy", "-f", "/other/haproxy/haproxy.cfg"]}, "not an HAProxy of this state dir"),
    ({"cmdline": ["python", "-m", "http.server"]}, "not an HAProxy of this state dir"),
    ({"cmdline": []}, "not an HAProxy of this state dir"),
    ({"running_config": None}, "missing"),
    ({"rendered_config": "cfg with another listener"}, "config differs"),
    ({"socket_answers": False}, "admin socket"),
])
def test_anything_else_is_restarted_and_says_why(over: dict[str, Any], why: str) -> None:
    d = adoption(**over)
    assert not d.adopt
    assert why in d.reason
