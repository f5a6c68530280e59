"""Rollout specs: defaults, round trips, and whole rejection naming the field."""

from __future__ import annotations

import pytest

from control_plane.domain.rollout_spec import DEFAULT_STEPS, HookKind, StepKind, parse_spec
from control_plane.errors import ValidationError


def test_service_and_version_alone_give_the_default_plan():
    spec = parse_spec({"service": "cart", "version": "v2"})
    assert spec.steps == DEFAULT_STEPS
    assert [s.weight for s in spec.steps if s.kind is StepKind.SET_WEIGHT] == [10, 25, 50]
    assert all(s.duration_s == 60 for s in spec.steps if s.kind is StepKind.ANALYSIS)
    assert spec.analysis.alpha == 0.01 and spec.analysis.errors and spec.analysis.latency
    assert spec.canary_replicas == 1


def test_a_full_spec_round_trips():
    raw = {"service": "cart", "version": "v2.1", "canary_replicas": 2,
           "steps": [{"setWeight": 5}, {"analysis": {"duration": "2m"}}, {"pause": {}}, {"setWeight": 50},
                     {"pause": {"duration": 30}}],
           "analysis": {"alpha": 0.005, "interval": "1s", "min_canary_requests": 500,
                        "errors": {"margin": 0.1}, "latency": {"quantile": 0.99, "edge": "250ms"},
                        "checks": [{"name": "cpu", "query": "avg(cpu{version='$canary'})", "max": 0.8}]},
           "webhooks": [{"type": "pre-rollout", "url": "https://ci.example/hook", "timeout": "3s", "retries": 1}],
           "notifications": [{"url": "https://hooks.slack.com/services/x", "kind": "slack"}]}
    spec = parse_spec(raw)
    assert spec.steps[1].duration_s == 120 and spec.steps[2].duration_s is None
    assert spec.analysis.latency_edge_s == 0.25 and spec.analysis.extra[0].max == 0.8
    assert spec.hooks(HookKind.PRE_ROLLOUT)[0].timeout_s == 3
    assert parse_spec(spec.to_dict()) == spec
    cfg = spec.analysis.judge_config()
    assert (cfg.alpha, cfg.error_margin, cfg.latency_quantile, cfg.min_canary_requests) == (0.005, 0.1, 0.99, 500)


@pytest.mark.parametrize("patch, field", [
    ({"service": "Cart!"}, "service"),
    ({"version": "2"}, "version"),
    ({"colour": "red"}, "colour"),
    ({"canary_replicas": 0}, "canary_replicas"),
    ({"steps": []}, "steps"),
    ({"steps": [{"pause": {}}]}, "steps[0]"),
    ({"steps": [{"setWeight": 10}, {"setWeight": 10}]}, "steps[1].setWeight"),
    ({"steps": [{"setWeight": 101}]}, "steps[0].setWeight"),
    ({"steps": [{"setWeight": "10"}]}, "steps[0].setWeight"),
    ({"steps": [{"setWeight": 10}, {"jump": 1}]}, "steps[1].jump"),
    ({"steps": [{"setWeight": 10}, {"pause": {"duration": "soon"}}]}, "steps[1].pause.duration"),
    ({"steps": [{"setWeight": 10}, {"analysis": {"length": "1m"}}]}, "steps[1].analysis.length"),
    ({"analysis": {"alpha": 0}}, "analysis.alpha"),
    ({"analysis": {"alpha": True}}, "analysis.alpha"),
    ({"analysis": {"errors": {"margin": -1}}}, "analysis.errors.margin"),
    ({"analysis": {"latency": {"quantile": 1.5}}}, "analysis.latency.quantile"),
    ({"analysis": {"checks": [{"name": "x", "query": "up"}]}}, "analysis.checks[0].min"),
    ({"analysis": {"checks": [{"name": "x", "query": "", "min": 1}]}}, "analysis.checks[0].query"),
    ({"analysis": {"errors": {"enabled": False}, "latency": {"enabled": False}}}, "analysis"),
    ({"webhooks": [{"type": "sometimes", "url": "http://x"}]}, "webhooks[0].type"),
    ({"webhooks": [{"type": "rollback", "url": "ftp://x"}]}, "webhooks[0].url"),
    ({"notifications": [{"url": "http://x", "kind": "pager"}]}, "notifications[0].kind"),
])
def test_invalid_specs_are_refused_naming_the_field(patch, field):
    raw = {"service": "cart", "version": "v2", **patch}
    with pytest.raises(ValidationError) as err:
        parse_spec(raw)
    assert err.value.field == field
    assert err.value.details["field"] == field


def test_not_an_object_is_refused():
    with pytest.raises(ValidationError):
        parse_spec(["cart", "v2"])
