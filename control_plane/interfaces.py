"""The small interfaces behind which every external system sits.

One module per implementation, chosen by a factory from settings (an unknown kind fails at
start-up). Domain code and the API depend on these Protocols only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping, Protocol, Sequence

from control_plane.domain.fleet import Endpoint, Instance, VersionSpec


class Runtime(Protocol):
    """Runs service instances: processes locally, Deployments on Kubernetes."""

    def apply(self, desired: Sequence[VersionSpec]) -> None:
        """Record the desired versions; the reconciler makes the actual state follow."""

    def reconcile_once(self) -> None:
        """One pass: start missing instances, restart dead ones (with back-off), stop unwanted ones."""

    def instances(self) -> list[Instance]:
        """The actual state, as last observed."""

    def restart(self, instance_id: str) -> None:
        """Restart one instance (raise NotFoundError if unknown)."""

    def shutdown(self) -> None:
        """Stop every instance this runtime started."""


class Router(Protocol):
    """Shifts traffic between the versions of a service: HAProxy locally, Gateway API on Kubernetes."""

    def sync_endpoints(self, service: str, endpoints: Mapping[str, Sequence[Endpoint]]) -> None:
        """Make the service's backend hold exactly these endpoints, grouped by version."""

    def set_weights(self, service: str, weights: Mapping[str, int]) -> None:
        """Set the percentage of traffic per version (sums to 100)."""

    def weights(self, service: str) -> dict[str, int]:
        """The percentages currently in force per version."""

    def drain(self, service: str, instance_id: str) -> None:
        """Stop sending new requests to one instance (before it is stopped)."""


@dataclass(frozen=True)
class Sample:
    """One value of one series at one instant."""

    labels: Mapping[str, str]
    value: float
    at: datetime


class MetricsSource(Protocol):
    """Reads metrics: Prometheus (through prometheus-api-client)."""

    def instant(self, promql: str, at: datetime | None = None) -> list[Sample]:
        """Evaluate an instant query; raise TemporaryError when the source is unreachable."""

    def healthy(self) -> bool:
        """Whether the source answers right now."""
